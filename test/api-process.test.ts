/**
 * The API as its own process (services/api/src/main.ts, docker-compose's `api` service), not inside the
 * test process: nothing of the tests' own set-up (a TensorFlow.js backend, for one) leaks into it.
 * It starts, reports ready, and registers an uploaded model.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from '@featurevis/config';
import { startRedisServer, type RedisServerHandle } from '@featurevis/queue';
import { fixtureUpload } from './helpers/fixture-model.ts';

let redis: RedisServerHandle;
let dir: string;
let child: ChildProcess;
let url: string;

before(async () => {
  redis = await startRedisServer();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fv-api-process-'));
  child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'services/api/src/main.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, REDIS_URL: redis.url, DATA_DIR: dir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stderr!.on('data', (chunk) => output.push(String(chunk)));
  url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`API did not start:\n${output.join('')}`)), 60_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      output.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'featurevis API listening' && entry.url) { clearTimeout(timer); resolve(entry.url); }
      } catch { /* not a log line */ }
    });
    child.once('exit', (code) => reject(new Error(`API exited (${code}):\n${output.join('')}`)));
  });
});
after(async () => {
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  await redis.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

test('ready at once, and a model upload is inspected and registered', async () => {
  const ready = await fetch(`${url}/readyz`);
  assert.equal(ready.status, 200, await ready.text());
  const { modelJson, weights } = await fixtureUpload(3);
  const weightsName = (JSON.parse(modelJson.toString('utf8')) as { weightsManifest: Array<{ paths: string[] }> }).weightsManifest[0]!.paths[0]!;
  const form = new FormData();
  form.set('metadata', JSON.stringify({ id: 'from-process', labels: ['a', 'b', 'c', 'd'] }));
  form.set('model.json', new Blob([modelJson]), 'model.json');
  form.set(weightsName, new Blob([weights]), weightsName);
  const created = await fetch(`${url}/v1/models`, { method: 'POST', body: form });
  assert.equal(created.status, 201, await created.clone().text());
  const view = await (await fetch(`${url}/v1/models/from-process`)).json() as { layers: Array<{ name: string }> };
  assert.ok(view.layers.some((layer) => layer.name === 'conv2'));
});
