/**
 * Checks HTTP responses against openapi.yaml: the route and status must be documented, and a JSON body
 * must validate against the documented schema. The service harness runs it on every response a test
 * provokes, so the document is checked by everything the tests do.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { REPO_ROOT } from '@featurevis/config';

type Json = Record<string, any>;

export function loadOpenApi(): Json {
  return parse(readFileSync(path.join(REPO_ROOT, 'openapi.yaml'), 'utf8'));
}

export function createResponseChecker(doc: Json = loadOpenApi()) {
  const ajv = new Ajv({ strict: false, allErrors: true, discriminator: true });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  ajv.addSchema({ $id: 'openapi', components: doc.components }, 'openapi');
  const cache = new Map<string, ValidateFunction>();
  const rewrite = (schema: unknown): unknown => JSON.parse(JSON.stringify(schema).replace(/"#\/components\//g, '"openapi#/components/'));

  /** `route` is Fastify's route pattern (/v1/jobs/:id); returns a problem description or null. */
  return function check(method: string, route: string, status: number, contentType: string | undefined, body: string): string | null {
    const pathKey = route.replace(/:(\w+)/g, '{$1}').replace(/\*$/, '{path}');
    const operation = doc.paths?.[pathKey]?.[method.toLowerCase()];
    if (!operation) return `${method} ${pathKey} is not in openapi.yaml`;
    const response = operation.responses?.[String(status)];
    if (!response) return `${method} ${pathKey} answered ${status}, which openapi.yaml does not list (${Object.keys(operation.responses ?? {}).join(', ')})`;
    const mediaType = (contentType ?? '').split(';')[0]!.trim();
    const content = response.content?.[mediaType];
    if (!content) return `${method} ${pathKey} ${status}: content type ${mediaType} not documented`;
    if (!mediaType.endsWith('json')) return null;
    const key = `${method} ${pathKey} ${status} ${mediaType}`;
    let validate = cache.get(key);
    if (!validate) { validate = ajv.compile(rewrite(content.schema) as object); cache.set(key, validate); }
    if (!validate(JSON.parse(body))) return `${key}: ${ajv.errorsText(validate.errors)}`;
    return null;
  };
}
