/**
 * Logs: every API line of a request carries its requestId, every worker line of a job its jobId, and
 * credentials never reach the log.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import supertest from 'supertest';
import { loadConfig, loggerOptions } from '@featurevis/config';
import { startRedisServer, type RedisServerHandle } from '@featurevis/queue';
import { createServices, type Services } from '@featurevis/runtime';
import { buildApp } from '@featurevis/api';
import { startWorker, type RunningWorker } from '@featurevis/worker';
import { writeFixtureModel } from './helpers/fixture-model.ts';

const lines: Array<Record<string, unknown>> = [];
const sink = () => new Writable({ write(chunk, _enc, done) { for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line)); done(); } });

let redis: RedisServerHandle;
let dir: string;
let services: Services;
let workerServices: Services;
let worker: RunningWorker;
let app: Awaited<ReturnType<typeof buildApp>>;

before(async () => {
  redis = await startRedisServer();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fv-logs-'));
  const modelsDir = await writeFixtureModel(path.join(dir, 'models'));
  const config = loadConfig({}, { redisUrl: redis.url, dataDir: path.join(dir, 'data'), modelsDir, logLevel: 'info', s3SecretAccessKey: 'very-secret' });
  services = await createServices(config);
  app = await buildApp({ config, ...services, logger: { ...loggerOptions(config), stream: sink() } });
  await app.ready();
  workerServices = await createServices(config);
  worker = await startWorker({ config, ...workerServices, logger: pino(loggerOptions(config), sink()).child({ service: 'worker' }) });
});
after(async () => {
  await worker.close(); await workerServices.close();
  await app.close(); await services.close();
  await redis.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

test('request lines carry the request id, job lines the job id, and no credential is logged', async () => {
  const res = await supertest(app.server).post('/v1/jobs')
    .set('x-request-id', 'req-logging-1').set('authorization', 'Bearer top-secret-token')
    .send({ model: 'fixture', objective: { type: 'class', class: 0 }, steps: 2, image: { size: 16 } });
  assert.equal(res.status, 202, JSON.stringify(res.body) + JSON.stringify(lines.filter((l) => Number(l.level) >= 50)));
  const id = res.body.id as string;
  for (let i = 0; i < 400; i++) {
    if (lines.some((l) => l.jobId === id && l.msg === 'job succeeded')) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const requestLines = lines.filter((l) => l.requestId === 'req-logging-1');
  assert.ok(requestLines.length >= 2, 'incoming request and response at least');
  const queued = lines.filter((l) => l.msg === 'job queued');
  assert.equal(queued.length, 1);
  assert.equal(queued[0].requestId, 'req-logging-1');
  assert.equal(queued[0].jobId, id);
  const jobLines = lines.filter((l) => l.service === 'worker' && JSON.stringify(l).includes(id));
  assert.ok(jobLines.some((l) => l.msg === 'job started') && jobLines.some((l) => l.msg === 'job succeeded'), JSON.stringify(jobLines));
  assert.ok(jobLines.every((l) => l.jobId === id), 'every worker line about the job names it');
  const all = JSON.stringify(lines);
  assert.ok(!all.includes('top-secret-token'), 'authorization header redacted');
  assert.ok(!all.includes('very-secret'), 'S3 secret never logged');
});
