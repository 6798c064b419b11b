/** Starts the API on the configured port with the configured Redis and storage. */
import type { Config } from '@featurevis/config';
import { buildApp } from './app.ts';
import { createServices } from '@featurevis/runtime';
import { observeJobEvents } from './job-events.ts';
import type { FastifyInstance } from 'fastify';

export async function startApi(config: Config): Promise<{ app: FastifyInstance; url: string; close(): Promise<void> }> {
  const services = await createServices(config, { port: config.port, warn: (m) => console.warn(m) });
  const app = await buildApp({ config, ...services });
  const events = observeJobEvents(config, services.store, app.metrics);
  const address = await app.listen({ host: config.host, port: config.port });
  return {
    app,
    url: address,
    async close() { await app.close(); await events.close(); await services.close(); },
  };
}
