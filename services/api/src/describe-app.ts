/** The app with its routes but no connections: for generating openapi.yaml without Redis or storage. */
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '@featurevis/config';
import { buildApp, type AppDeps } from './app.ts';

export async function buildAppForDescription(): Promise<FastifyInstance> {
  const unused = {}; // never called: only the routes' schemas are read
  const app = await buildApp({ config: loadConfig({}), redis: unused, store: unused, storage: unused, catalog: unused, logger: false } as unknown as AppDeps);
  await app.ready();
  return app;
}
