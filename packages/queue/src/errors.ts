/** Errors are values with a cause; the API turns them into problem+json at one boundary. */
export class JobNotFoundError extends Error {
  readonly status = 404;
  constructor(readonly id: string, kind = 'job') { super(`no ${kind} with id "${id}"`); this.name = 'JobNotFoundError'; }
}
export class JobConflictError extends Error {
  readonly status = 409;
  constructor(message: string) { super(message); this.name = 'JobConflictError'; }
}
export class IdempotencyMismatchError extends Error {
  readonly status = 422;
  readonly field = 'Idempotency-Key';
  constructor(key: string) { super(`Idempotency-Key "${key}" was already used with a different request body`); this.name = 'IdempotencyMismatchError'; }
}
