/**
 * buildApp(deps) builds the Fastify app without opening a port: tests call it with their own Redis and
 * storage, main.ts and the embedded start with the configured ones. Shared things are decorated once.
 */
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions, type RouteOptions } from 'fastify';
import multipart from '@fastify/multipart';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { loggerOptions, type Config } from '@featurevis/config';
import type { JobStore } from '@featurevis/queue';
import type { Storage } from '@featurevis/storage';
import { ReferenceSetCatalog, type ModelCatalog } from '@featurevis/catalog';
import { FinishWaiters } from './finish-waiters.ts';
import { createMetrics, type ApiMetrics } from './metrics.ts';
import { registerProblemHandlers } from './problems.ts';
import { schemaCompiler } from './schema-compiler.ts';
import { fileRoutes } from './routes/files.ts';
import { healthRoutes } from './routes/health.ts';
import { jobRoutes } from './routes/jobs.ts';
import { modelRoutes } from './routes/models.ts';
import { referenceSetRoutes } from './routes/reference-sets.ts';
import { sweepRoutes } from './routes/sweeps.ts';

export interface AppDeps {
  config: Config;
  redis: Redis;
  store: JobStore;
  storage: Storage;
  catalog: ModelCatalog;
  logger?: FastifyServerOptions['logger'];
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    redis: Redis;
    store: JobStore;
    storage: Storage;
    catalog: ModelCatalog;
    /** Uploaded reference image sets (storage, under reference-sets/). */
    referenceSets: ReferenceSetCatalog;
    metrics: ApiMetrics;
    /** Long polling of jobs and sweeps (`?wait=`). */
    finishWaiters: FinishWaiters;
    /** Every route as registered, with its schemas: the source openapi.yaml is generated from. */
    routeTable: RouteOptions[];
  }
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: deps.logger ?? loggerOptions(deps.config),
    bodyLimit: deps.config.maxBodyBytes,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID();
    },
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
  });
  app.setValidatorCompiler(schemaCompiler());
  const routeTable: RouteOptions[] = [];
  app.addHook('onRoute', (route) => { routeTable.push(route); });
  app.decorate('routeTable', routeTable);
  app.decorate('config', deps.config);
  app.decorate('redis', deps.redis);
  app.decorate('store', deps.store);
  app.decorate('storage', deps.storage);
  app.decorate('catalog', deps.catalog);
  app.decorate('referenceSets', new ReferenceSetCatalog(deps.storage));
  const finishWaiters = new FinishWaiters(deps.redis, deps.store, deps.config.longPollMaxS, deps.config.longPollRecheckMs);
  app.decorate('finishWaiters', finishWaiters);
  app.decorate('metrics', createMetrics(deps.store, () => finishWaiters.waiting));
  // Before the server waits for requests in flight: a long poll answers at once instead of holding up the close.
  app.addHook('preClose', async () => { await finishWaiters.close(); });
  app.addHook('onSend', async (request, reply) => { reply.header('x-request-id', request.id); });
  registerProblemHandlers(app);
  await app.register(multipart, {
    limits: { fileSize: deps.config.maxModelUploadBytes, files: 1000, fields: 10, fieldSize: deps.config.maxBodyBytes },
    throwFileSizeLimit: true,
  });
  await app.register(healthRoutes);
  await app.register(jobRoutes);
  await app.register(sweepRoutes);
  await app.register(modelRoutes);
  await app.register(referenceSetRoutes);
  await app.register(fileRoutes);
  return app;
}
