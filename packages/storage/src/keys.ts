/**
 * Object keys are the one thing both drivers share with the outside world (the API's
 * `/v1/files/<key>` route, job results), so both drivers accept exactly the same keys:
 * `/`-separated segments of letters, digits, `.`, `_` and `-`, e.g. `jobs/<id>/image-0.png`.
 * A segment may not start with `.`, which rules out `..` traversal and leaves dot-names free
 * for the local driver's temporary files (so `list` never sees a half-written object).
 */
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
export const MAX_KEY_LENGTH = 1024;

export class InvalidKeyError extends Error {
  constructor(readonly key: string, reason: string) {
    super(`invalid storage key ${JSON.stringify(key)}: ${reason}`);
    this.name = 'InvalidKeyError';
  }
}

function invalidReason(key: string): string | undefined {
  if (typeof key !== 'string' || key.length === 0) return 'empty';
  if (key.length > MAX_KEY_LENGTH) return `longer than ${MAX_KEY_LENGTH} characters`;
  if (key.startsWith('/')) return 'absolute paths are not keys';
  const bad = key.split('/').find((segment) => !SEGMENT.test(segment));
  if (bad === undefined) return undefined;
  if (bad === '') return 'empty path segment';
  if (bad === '.' || bad === '..') return 'relative path segments are not allowed';
  return `segment ${JSON.stringify(bad)} must match ${SEGMENT}`;
}

export function isValidKey(key: string): boolean {
  return invalidReason(key) === undefined;
}

/** Throws InvalidKeyError unless `key` names an object both drivers can store. */
export function assertValidKey(key: string): void {
  const reason = invalidReason(key);
  if (reason !== undefined) throw new InvalidKeyError(key, reason);
}

/**
 * A listing prefix is a key prefix, matched character by character as S3 does
 * (`jobs/ab` lists `jobs/abc/...`): empty, or a valid key optionally ending in `/`.
 */
export function assertValidPrefix(prefix: string): void {
  if (prefix === '') return;
  const reason = invalidReason(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
  if (reason !== undefined) throw new InvalidKeyError(prefix, reason);
}
