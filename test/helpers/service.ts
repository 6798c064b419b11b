/**
 * The whole service for end-to-end tests, really started: a private redis-server, local storage in a
 * temporary directory or S3 (s3rver, the real protocol), the Fastify app (supertest drives it without a
 * port), and optionally a worker with its engine thread.
 *
 *   const svc = await startService({ worker: true });
 *   const res = await svc.http.post('/v1/jobs').send({ model: 'shapes-a', objective: { type: 'class', class: 0 } });
 *   const job = await svc.waitForJob(res.body.id);
 *   await svc.stop();
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import supertest from 'supertest';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from '@featurevis/config';
import { startRedisServer } from '@featurevis/queue';
import { createServices, type Services } from '@featurevis/runtime';
import { buildApp, observeJobEvents } from '@featurevis/api';
import { startWorker, type RunningWorker } from '@featurevis/worker';
import type { JobView } from '@featurevis/contracts';
import { startS3, type S3Handle } from './s3-server.ts';
import { createResponseChecker } from './openapi-check.ts';

export interface ServiceHandle {
  app: FastifyInstance;
  http: ReturnType<typeof supertest>;
  config: Config;
  services: Services;
  worker: RunningWorker | null;
  s3: S3Handle | null;
  /** Polls GET /v1/jobs/{id} until the job reaches one of `statuses` (default: any final status). */
  waitForJob(id: string, statuses?: JobView['status'][], timeoutMs?: number): Promise<JobView>;
  startWorker(overrides?: Partial<Config>): Promise<RunningWorker>;
  /** GETs a URL the API handed out (for local storage, a route of the API itself); throws unless 200. */
  fetchFile(url: string): Promise<{ status: number; type: string; body: Buffer }>;
  stop(): Promise<void>;
}

const FINAL: JobView['status'][] = ['succeeded', 'failed', 'canceled'];

export async function startService(options: { worker?: boolean; storage?: 'local' | 's3'; config?: Partial<Config> } = {}): Promise<ServiceHandle> {
  const redis = await startRedisServer();
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'featurevis-test-'));
  const s3 = options.storage === 's3' ? await startS3() : null;
  const config = loadConfig({}, {
    redisUrl: redis.url,
    dataDir,
    logLevel: 'silent',
    port: 3999,
    jobBackoffMs: 100,
    ...(s3 ? { storageDriver: 's3', s3Endpoint: s3.endpoint, s3Bucket: s3.bucket, s3AccessKeyId: s3.accessKeyId, s3SecretAccessKey: s3.secretAccessKey, s3ForcePathStyle: true } : {}),
    ...options.config,
  });
  const services = await createServices(config);
  const app = await buildApp({ config, ...services, logger: false });
  // Every response a test provokes is checked against openapi.yaml; stop() fails on any mismatch.
  const checkResponse = createResponseChecker();
  const contractViolations: string[] = [];
  app.addHook('onSend', async (request, reply, payload) => {
    if (typeof payload === 'string' && request.routeOptions.url) {
      const problem = checkResponse(request.method, request.routeOptions.url, reply.statusCode, reply.getHeader('content-type') as string | undefined, payload);
      if (problem) contractViolations.push(problem);
    }
    return payload;
  });
  await app.ready();
  // As server.ts does: job durations and steps/s reach /metrics from the workers' finished announcements.
  const events = observeJobEvents(config, services.store, app.metrics);
  const workers: Array<{ worker: RunningWorker; services: Services }> = [];
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const handle: ServiceHandle = {
    app,
    http: supertest(app.server),
    config,
    services,
    worker: null,
    s3,
    async startWorker(overrides = {}) {
      const workerConfig = { ...config, ...overrides };
      const workerServices = await createServices(workerConfig);
      const worker = await startWorker({ config: workerConfig, ...workerServices, logger });
      workers.push({ worker, services: workerServices });
      return worker;
    },
    async fetchFile(url) {
      const res = await handle.http.get(new URL(url).pathname).buffer(true).parse((response, done) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => done(null, Buffer.concat(chunks)));
      });
      if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
      return { status: res.status, type: res.headers['content-type'] as string, body: res.body as Buffer };
    },
    async waitForJob(id, statuses = FINAL, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const res = await handle.http.get(`/v1/jobs/${id}`);
        if (res.status !== 200) throw new Error(`GET /v1/jobs/${id}: ${res.status} ${JSON.stringify(res.body)}`);
        if (statuses.includes(res.body.status)) return res.body as JobView;
        if (Date.now() > deadline) throw new Error(`job ${id} still ${res.body.status} after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      for (const w of workers) { await w.worker.close(); await w.services.close(); }
      await events.close();
      await app.close();
      await services.close();
      await redis.stop();
      await s3?.stop();
      await fs.rm(dataDir, { recursive: true, force: true });
      if (contractViolations.length) throw new Error(`responses that do not match openapi.yaml:\n${[...new Set(contractViolations)].join('\n')}`);
    },
  };
  if (options.worker) handle.worker = await handle.startWorker();
  return handle;
}
