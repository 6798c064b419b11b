import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { problemResponses } from './shared.ts';

const Health = Type.Object({ status: Type.String(), checks: Type.Optional(Type.Record(Type.String(), Type.String())) });

export const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/healthz', { schema: { summary: 'The process is alive', response: { 200: Health } } }, async () => ({ status: 'ok' }));

  app.get('/readyz', {
    schema: { summary: 'Redis and storage are reachable', response: { 200: Health, 503: Health } },
  }, async (_request, reply) => {
    const checks: Record<string, string> = {};
    const run = async (name: string, check: () => Promise<unknown>) => {
      try { await check(); checks[name] = 'ok'; } catch (err) { checks[name] = (err as Error).message || 'unreachable'; }
    };
    await Promise.all([run('redis', () => app.redis.ping()), run('storage', () => app.storage.ping())]);
    const ok = Object.values(checks).every((v) => v === 'ok');
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks });
  });

  app.get('/metrics', {
    schema: { summary: 'Prometheus metrics: queue depth by state, job durations, optimisation steps per second', produces: ['text/plain'], response: { 200: Type.String(), ...problemResponses(500) } },
  }, async (_request, reply) => reply.type(app.metrics.contentType).send(await app.metrics.render()));
};
