/**
 * openapi.yaml, generated from the routes' own schemas (which come from @featurevis/contracts), so the
 * document cannot drift from what the API validates and answers. `npm run openapi` writes it; a test
 * checks the committed file is current and that responses in the tests match it.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';
import { stringify } from 'yaml';
import { ModelMetadata } from '@featurevis/contracts';
import { withDiscriminators } from './schema-compiler.ts';

type Json = Record<string, unknown>;

const INFO = {
  title: 'featurevis',
  version: '1.0.0',
  summary: 'Activation-maximization feature visualization as a service',
  description: 'Synthesises the images that maximise a neural network unit (activation maximization; Nguyen, Yosinski & Clune 2019). Jobs are queued (BullMQ on Redis), run by GPU or CPU workers with TensorFlow.js, and their images and metadata stored on S3-compatible storage or the local filesystem. Errors are application/problem+json (RFC 9457) whose `detail` names the field.',
};

/** Plain JSON (TypeBox's symbol keys dropped), titled and recursive schemas hoisted into components. */
function toOpenApiSchema(schema: unknown, components: Record<string, Json>): Json {
  const plain = withDiscriminators(JSON.parse(JSON.stringify(schema ?? {}))) as Json;
  const visit = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map((n) => visit(n));
    if (!node || typeof node !== 'object') return node;
    const obj = node as Json;
    if (typeof obj.$ref === 'string' && !obj.$ref.startsWith('#')) return { $ref: `#/components/schemas/${obj.$ref}` };
    const out: Json = {};
    for (const [k, v] of Object.entries(obj)) out[k] = k === 'properties' || k === '$defs' || k === 'patternProperties'
      ? Object.fromEntries(Object.entries(v as Json).map(([pk, pv]) => [pk, visit(pv)]))
      : visit(v);
    const name = (typeof out.$id === 'string' && out.$id) || (typeof out.title === 'string' && /^[A-Z]\w+$/.test(out.title) ? out.title : null);
    if (name) {
      delete out.$id;
      const existing = components[name];
      if (!existing || JSON.stringify(existing) === JSON.stringify(out)) { components[name] = out; return { $ref: `#/components/schemas/${name}` }; }
    }
    return out;
  };
  const result = visit(plain) as Json;
  if (typeof result.$id === 'string') {
    const name = result.$id;
    delete result.$id;
    components[name] = result;
    return { $ref: `#/components/schemas/${name}` };
  }
  return result;
}

const openApiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}').replace(/\*$/, '{path}');

function parameters(route: RouteOptions, components: Record<string, Json>) {
  const schema = (route.schema ?? {}) as Json;
  const out: Json[] = [];
  for (const [part, where] of [['params', 'path'], ['querystring', 'query'], ['headers', 'header']] as const) {
    const s = schema[part] as Json | undefined;
    if (!s?.properties) continue;
    const required = new Set((s.required as string[] | undefined) ?? []);
    for (const [name, prop] of Object.entries(s.properties as Json)) {
      const p = prop as Json;
      out.push({
        name: name === '*' ? 'path' : name.replace(/^idempotency-key$/, 'Idempotency-Key'),
        in: where,
        required: where === 'path' || required.has(name),
        ...(p.description ? { description: p.description } : {}),
        schema: toOpenApiSchema(p, components),
      });
    }
  }
  return out;
}

export function generateOpenApi(app: FastifyInstance): Json {
  const components: Record<string, Json> = {};
  toOpenApiSchema(ModelMetadata, components); // registers the multipart `metadata` field's schema
  const paths: Record<string, Json> = {};
  const routes = [...app.routeTable].filter((r) => !(Array.isArray(r.method) ? r.method : [r.method]).includes('HEAD'));
  for (const route of routes.sort((a, b) => a.url.localeCompare(b.url))) {
    const schema = (route.schema ?? {}) as Json;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      const responses: Json = {};
      for (const [status, resp] of Object.entries((schema.response ?? {}) as Json)) {
        const r = resp as Json;
        const problem = Number(status) >= 400;
        const produces = (schema.produces as string[] | undefined) ?? ['application/json'];
        const mediaTypes = problem ? ['application/problem+json'] : produces;
        responses[status] = {
          description: (r.description as string | undefined) ?? (problem ? 'A problem (RFC 9457)' : 'OK'),
          content: Object.fromEntries(mediaTypes.map((m) => [m, { schema: toOpenApiSchema(r, components) }])),
        };
      }
      const operation: Json = {
        ...(schema.summary ? { summary: schema.summary } : {}),
        ...(schema.description ? { description: schema.description } : {}),
        operationId: `${method.toLowerCase()}${openApiPath(route.url).replace(/[{}]/g, '').split(/[/_-]/).map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('')}`,
        parameters: parameters(route, components),
        responses,
      };
      if (schema.body) {
        operation.requestBody = { required: true, content: { 'application/json': { schema: toOpenApiSchema(schema.body, components) } } };
      } else if ((schema.consumes as string[] | undefined)?.includes('multipart/form-data')) {
        operation.requestBody = {
          required: true,
          content: { 'multipart/form-data': { schema: {
            type: 'object',
            required: ['model.json'],
            properties: {
              'model.json': { type: 'string', format: 'binary', description: 'The TF.js model.json.' },
              metadata: { $ref: '#/components/schemas/ModelMetadata', description: 'JSON text.' },
            },
            additionalProperties: { type: 'string', format: 'binary', description: 'Each weight file, under the path its weightsManifest gives.' },
          } } },
        };
      }
      if (!(operation.parameters as Json[]).length) delete operation.parameters;
      (paths[openApiPath(route.url)] ??= {})[method.toLowerCase()] = operation;
    }
  }
  return { openapi: '3.1.0', info: INFO, servers: [{ url: 'http://127.0.0.1:3000', description: 'npm start (embedded defaults)' }], paths, components: { schemas: Object.fromEntries(Object.entries(components).sort(([a], [b]) => a.localeCompare(b))) } };
}

export function openApiYaml(app: FastifyInstance): string {
  return `# Generated by \`npm run openapi\` from the routes' schemas (services/api/src/openapi.ts). Do not edit by hand.\n${stringify(generateOpenApi(app), { lineWidth: 0 })}`;
}
