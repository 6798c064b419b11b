/** The README is the front door: its configuration table is the code's, and it shows every route with curl. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { configTableMarkdown, REPO_ROOT } from '@featurevis/config';
import { buildAppForDescription } from '../services/api/src/describe-app.ts';

const readme = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');

test('the configuration table is the one the settings generate', () => {
  const match = /<!-- config:start -->\n([\s\S]*?)\n<!-- config:end -->/.exec(readme);
  assert.ok(match, 'README has the config markers');
  assert.equal(match[1].trim(), configTableMarkdown().trim(), 'README config table is stale: paste configTableMarkdown()');
});

test('every route has a curl example', async () => {
  const app = await buildAppForDescription();
  try {
    const curlLines = readme.split('\n').filter((line) => /curl /.test(line) || /^\s+-[dF] /.test(line));
    for (const route of app.routeTable) {
      for (const method of [route.method].flat()) {
        if (method === 'HEAD') continue;
        // /v1/jobs/:id/cancel → a path with any placeholder in place of each parameter.
        const pattern = new RegExp(`\\$B${route.url.replace(/:\w+/g, '[A-Za-z0-9_-]+').replace(/\*$/, '\\S+')}(?=["'\\s?]|$)`);
        const examples = readme.split('\n').filter((line) => line.includes('curl') && pattern.test(line));
        assert.ok(curlLines.length && examples.length, `no curl example for ${method} ${route.url}`);
        if (method === 'POST') assert.ok(examples.some((line) => /-X POST/.test(line)), `no POST example for ${route.url}`);
      }
    }
  } finally { await app.close(); }
});
