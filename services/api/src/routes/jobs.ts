import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { JobList, JobListQuery, JobQuery, JobRequest, JobView, Problem } from '@featurevis/contracts';
import { isFinished } from '@featurevis/queue';
import { ModelNotFoundError } from '@featurevis/catalog';
import { checkReferenceSets, compareModels, resolveJobSpec } from '../resolve-spec.ts';
import { jobView } from '../views.ts';
import { modelForRequest, problemResponses } from './shared.ts';

const IdParams = Type.Object({ id: Type.String({ maxLength: 200 }) });
export const IdempotencyHeaders = Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) });

export const jobRoutes: FastifyPluginAsync = async (app) => {
  app.post('/v1/jobs', {
    schema: {
      summary: 'Queue a visualization job',
      description: 'Validates the request against the model and the limits, fills the defaults and queues one job. With an Idempotency-Key header, the same key and body return the job made the first time (200); the same key with another body answers 422.',
      headers: IdempotencyHeaders,
      body: JobRequest,
      response: { 200: JobView, 202: JobView, ...problemResponses(400, 404, 413, 415, 422) },
    },
  }, async (request, reply) => {
    const body = request.body as JobRequest;
    const model = await modelForRequest(app, body.model);
    const compared = await compareModels(body, model, (id) => app.catalog.get(id).catch((err) => { if (err instanceof ModelNotFoundError) return null; throw err; }));
    const spec = resolveJobSpec(body, model, app.config, compared);
    await checkReferenceSets(body, (id) => app.referenceSets.find(id));
    const key = (request.headers['idempotency-key'] as string | undefined) ?? undefined;
    // Jobs that differ only in their objective may share one batched run (packages/queue batch-key.ts).
    const added = await app.store.add(spec, key, body, { modelHash: model.hash, seedPinned: body.seed !== undefined });
    const { id, replayed } = added;
    request.log.info({ jobId: id, replayed }, replayed ? 'idempotent replay' : 'job queued');
    // A new job is reported as it was accepted, queued, even if a worker has already taken it: the
    // caller polls GET /v1/jobs/{id} for what happens next. Its record comes from the store's add
    // (no read back). A replay reports the job as it is now.
    const view = await jobView(added.replayed ? await app.store.get(id) : added.record, app.storage);
    return reply.code(replayed ? 200 : 202).header('location', `/v1/jobs/${id}`).send(view);
  });

  app.get('/v1/jobs', {
    schema: { summary: 'List jobs, newest first', querystring: JobListQuery, response: { 200: JobList, ...problemResponses(400) } },
  }, async (request) => {
    const q = request.query as { status?: JobView['status']; limit?: number; cursor?: string };
    const page = await app.store.list({ status: q.status, limit: Math.min(q.limit ?? 50, app.config.maxListLimit), cursor: q.cursor });
    return { jobs: await Promise.all(page.jobs.map((j) => jobView(j, app.storage))), nextCursor: page.nextCursor };
  });

  app.get('/v1/jobs/:id', {
    schema: {
      summary: 'A job\'s status, progress and result',
      description: 'With `wait`, the answer comes when the job has finished (succeeded, failed or canceled) or after `wait` seconds, whichever is first: long polling, instead of asking again and again.',
      params: IdParams, querystring: JobQuery, response: { 200: JobView, ...problemResponses(400, 404) },
    },
  }, async (request) => {
    const { id } = request.params as { id: string };
    const { wait = 0 } = request.query as { wait?: number };
    const record = await app.finishWaiters.readUntilFinished(id, wait, () => app.store.get(id), (job) => isFinished(job.status));
    return jobView(record, app.storage);
  });

  app.post('/v1/jobs/:id/cancel', {
    schema: {
      summary: 'Cancel a job',
      description: 'A queued job never runs (200, status canceled); nor does one that another job\'s batched run is optimising (200, status canceled: nothing is written for it). A running job stops within a few optimisation steps (202, status running until it has stopped, then canceled). A finished job answers 409.',
      params: IdParams,
      response: { 200: JobView, 202: JobView, ...problemResponses(404, 409) },
    },
  }, async (request, reply) => {
    const record = await app.store.cancel((request.params as { id: string }).id);
    request.log.info({ jobId: record.id, status: record.status }, 'cancel requested');
    return reply.code(record.status === 'canceled' ? 200 : 202).send(await jobView(record, app.storage));
  });
};
export { Problem };
