/** openapi.yaml is current, valid OpenAPI 3.1, and documents every route the API serves. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { REPO_ROOT } from '@featurevis/config';
import { buildAppForDescription } from '../services/api/src/describe-app.ts';
import { openApiYaml } from '../services/api/src/openapi.ts';
import { loadOpenApi } from './helpers/openapi-check.ts';

test('openapi.yaml is what `npm run openapi` generates from the routes', async () => {
  const app = await buildAppForDescription();
  try {
    const committed = await readFile(path.join(REPO_ROOT, 'openapi.yaml'), 'utf8');
    assert.equal(committed, openApiYaml(app), 'openapi.yaml is stale: run `npm run openapi` and commit it');
  } finally { await app.close(); }
});

test('openapi.yaml is valid OpenAPI 3.1', async () => {
  const validator = new Validator();
  const result = await validator.validate(loadOpenApi());
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
  assert.equal(validator.version, '3.1');
});

test('every route is documented with a summary and a success response, and nothing else is', async () => {
  const app = await buildAppForDescription();
  try {
    const doc = loadOpenApi();
    const served = new Set<string>();
    for (const route of app.routeTable) {
      for (const method of [route.method].flat()) {
        if (method === 'HEAD') continue;
        const key = `${method.toLowerCase()} ${route.url.replace(/:(\w+)/g, '{$1}').replace(/\*$/, '{path}')}`;
        served.add(key);
        const [m, p] = key.split(' ');
        const op = doc.paths[p!]?.[m!];
        assert.ok(op, `${key} is served but not documented`);
        assert.ok(op.summary, `${key} has no summary`);
        assert.ok(Object.keys(op.responses).some((s) => s.startsWith('2')), `${key} documents no success response`);
      }
    }
    for (const [p, ops] of Object.entries<Record<string, unknown>>(doc.paths)) {
      for (const m of Object.keys(ops)) assert.ok(served.has(`${m} ${p}`), `${m} ${p} is documented but not served`);
    }
    for (const required of ['post /v1/jobs', 'get /v1/jobs', 'get /v1/jobs/{id}', 'post /v1/jobs/{id}/cancel', 'post /v1/sweeps', 'get /v1/sweeps/{id}', 'get /v1/models', 'get /v1/models/{id}', 'post /v1/models', 'get /healthz', 'get /readyz', 'get /metrics']) {
      assert.ok(served.has(required), `${required} is part of the public contract`);
    }
  } finally { await app.close(); }
});
