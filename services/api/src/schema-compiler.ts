/**
 * Validation with Ajv, strict for bodies (no type coercion, unknown fields rejected, no defaults filled
 * behind the caller's back) and coercing for query strings and path parameters, which are text.
 */
import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

/**
 * TypeBox writes unions as anyOf; a union tagged with `discriminator` becomes oneOf, so Ajv (and
 * OpenAPI) can pick the branch by its tag and report that branch's error instead of "must match anyOf".
 */
export function withDiscriminators<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map(withDiscriminators) as T;
  if (!schema || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) out[k] = withDiscriminators(v);
  if (out.discriminator && Array.isArray(out.anyOf)) { out.oneOf = out.anyOf; delete out.anyOf; }
  return out as T;
}

function makeAjv(options: Options) {
  const ajv = new Ajv({ allErrors: false, discriminator: true, strict: false, ...options });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  return ajv;
}

export function schemaCompiler(): FastifySchemaCompiler<unknown> {
  // allErrors: a union's branches each report their tag mismatch too, which pickValidationError needs.
  const bodyAjv = makeAjv({ coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: true });
  const textAjv = makeAjv({ coerceTypes: true, useDefaults: true, removeAdditional: false });
  return ({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : textAjv).compile(withDiscriminators(schema as object));
}
