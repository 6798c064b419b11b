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

export function registerProblemHandlers(app: FastifyInstance) {
  app.setNotFoundHandler((request, reply) => sendProblem(reply, request, 404, `no route ${request.method} ${request.url.split('?')[0]}`));
  app.setErrorHandler((error: FastifyError & { status?: number; field?: string }, request, reply) => {
    if (error.validation) {
      const { field, detail } = describeValidationError(error.validation[0] as ErrorObject, error.validationContext ?? 'body');
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
