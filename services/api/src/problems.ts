/**
 * Errors become RFC 9457 problem+json here, at one boundary: routes throw values with a status and
 * the field to blame; validation errors of the schemas are turned into the same shape.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorObject } from 'ajv';

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly field?: string, readonly cause?: unknown) {
    super(message);
    this.name = 'ApiError';
  }
}

const TITLES: Record<number, string> = {
  400: 'Bad Request', 404: 'Not Found', 409: 'Conflict', 413: 'Content Too Large', 415: 'Unsupported Media Type',
  422: 'Unprocessable Content', 500: 'Internal Server Error', 503: 'Service Unavailable',
};

export function sendProblem(reply: FastifyReply, request: FastifyRequest, status: number, detail: string, field?: string) {
  return reply
    .code(status)
    .type('application/problem+json')
    .send({ type: 'about:blank', title: TITLES[status] ?? 'Error', status, detail, instance: request.url, ...(field ? { field } : {}) });
}

/** `/objective/channel` → `objective.channel`; array items as `objective[1].layer`. */
export function fieldPath(instancePath: string, extra?: string): string {
  const parts = instancePath.split('/').filter(Boolean).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (extra) parts.push(extra);
  return parts.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');
}

/** One validation error as a sentence that names the field. */
export function describeValidationError(error: ErrorObject, part: string): { field: string; detail: string } {
  const params = error.params as Record<string, unknown>;
  const where = (field: string) => field || part;
  switch (error.keyword) {
    case 'additionalProperties': {
      const field = fieldPath(error.instancePath, String(params.additionalProperty));
      return { field, detail: `${field}: unknown field` };
    }
    case 'required': {
      const field = fieldPath(error.instancePath, String(params.missingProperty));
      return { field, detail: `${field}: required` };
    }
    case 'discriminator': {
      const field = fieldPath(error.instancePath, String(params.tag));
      return { field, detail: params.error === 'tag' ? `${field}: required, and must be a string` : `${field}: "${String(params.tagValue)}" is not one of the known types` };
    }
    case 'enum':
      return { field: where(fieldPath(error.instancePath)), detail: `${where(fieldPath(error.instancePath))}: must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    default: {
      const field = where(fieldPath(error.instancePath));
      return { field, detail: `${field}: ${error.message ?? 'is invalid'}` };
    }
  }
}

/**
 * Ajv reports every failing branch of a union. The useful one is the branch whose `type` tag matched
 * what the client sent: errors of branches rejected by their tag, and the union's own summary, are
 * dropped; when no branch matched its tag, the tag itself is the error.
 */
export function pickValidationError(errors: ErrorObject[]): ErrorObject {
  if (!errors.some((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf')) return errors[0]!;
  const tagErrors = errors.filter((e) => e.keyword === 'const' && e.instancePath.endsWith('/type') && /\/properties\/type\/const$/.test(e.schemaPath));
  const rejected = tagErrors.map((e) => ({ schema: e.schemaPath.replace(/properties\/type\/const$/, ''), object: e.instancePath.slice(0, -'/type'.length) }));
  const candidates = errors.filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf' && !tagErrors.includes(e)
    && !rejected.some((r) => e.schemaPath.startsWith(r.schema) && e.instancePath.startsWith(r.object)));
  const useful = candidates.filter((e) => !(e.keyword === 'type' && (e.params as { type?: string }).type === 'array'));
  if (useful.length) return useful.reduce((best, e) => (e.instancePath.length > best.instancePath.length ? e : best), useful[0]!);
  if (tagErrors.length) {
    const deepest = tagErrors.reduce((best, e) => (e.instancePath.length > best.instancePath.length ? e : best), tagErrors[0]!);
    const allowed = tagErrors.filter((e) => e.instancePath === deepest.instancePath).map((e) => JSON.stringify((e.params as { allowedValue: unknown }).allowedValue));
    return { ...deepest, keyword: 'enum', params: { allowedValues: allowed.map((a) => JSON.parse(a)) }, message: `must be one of ${allowed.join(', ')}` };
  }
  return candidates[0] ?? errors[0]!;
}

export function registerProblemHandlers(app: FastifyInstance) {
  app.setNotFoundHandler((request, reply) => sendProblem(reply, request, 404, `no route ${request.method} ${request.url.split('?')[0]}`));
  app.setErrorHandler((error: FastifyError & { status?: number; field?: string }, request, reply) => {
    if (error.validation) {
      const { field, detail } = describeValidationError(pickValidationError(error.validation as ErrorObject[]), error.validationContext ?? 'body');
      return sendProblem(reply, request, 400, detail, field);
    }
    if (error instanceof ApiError || (typeof error.status === 'number' && error.status >= 400 && error.status < 500)) {
      return sendProblem(reply, request, error.status!, error.message, error.field);
    }
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
      case 'FST_REQ_FILE_TOO_LARGE':
      case 'FST_FILES_LIMIT':
      case 'FST_PARTS_LIMIT':
        return sendProblem(reply, request, 413, `request body too large: ${error.message}`);
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return sendProblem(reply, request, 415, `unsupported content type "${request.headers['content-type'] ?? ''}"`);
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return sendProblem(reply, request, 400, 'body: empty; a JSON object is required', 'body');
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return sendProblem(reply, request, 400, `body: not valid JSON (${error.message})`, 'body');
    }
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      return sendProblem(reply, request, error.statusCode, error.message);
    }
    request.log.error({ err: error }, 'request failed');
    return sendProblem(reply, request, 500, 'internal error; the request id is in the logs');
  });
}
