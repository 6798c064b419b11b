import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { SweepQuery, SweepRequest, SweepView } from '@featurevis/contracts';
import { sweepManifestWritten } from '@featurevis/queue';
import { ApiError } from '../problems.ts';
import { checkLayer, checkReferenceSets, resolveSettings } from '../resolve-spec.ts';
import { sweepView } from '../views.ts';
import { IdempotencyHeaders } from './jobs.ts';
import { modelForRequest, problemResponses } from './shared.ts';

export const sweepManifestKey = (id: string) => `sweeps/${id}/manifest.json`;

export const sweepRoutes: FastifyPluginAsync = async (app) => {
  app.post('/v1/sweeps', {
    schema: {
      summary: 'Queue a layer sweep: one job per channel',
      description: 'Creates one channel-objective job per unit of `layer` in `channels` (all, or [start, end)), with the same settings; sweeps/{id}/manifest.json is written to storage when the last unit finishes (`manifest` is null until then). Idempotency-Key works as for jobs.',
      headers: IdempotencyHeaders,
      body: SweepRequest,
      response: { 200: SweepView, 202: SweepView, ...problemResponses(400, 413, 415, 422) },
    },
  }, async (request, reply) => {
    const body = request.body as SweepRequest;
    const model = await modelForRequest(app, body.model);
    const layer = checkLayer(model, body.layer, 'layer');
    const { start, end } = body.channels === 'all' ? { start: 0, end: layer.channels } : body.channels;
    if (end <= start) throw new ApiError(422, `channels.end: ${end} must be greater than channels.start ${start}`, 'channels.end');
    if (end > layer.channels) throw new ApiError(422, `channels.end: ${end} is out of range; layer "${layer.name}" has ${layer.channels} channels`, 'channels.end');
    if (end - start > app.config.maxSweepChannels) throw new ApiError(422, `channels: ${end - start} units is over the limit of ${app.config.maxSweepChannels} (MAX_SWEEP_CHANNELS)`, 'channels');
    const { layer: _layer, channels: _channels, ...settings } = body;
    const spec = resolveSettings(settings, model, app.config);
    await checkReferenceSets(settings, (id) => app.referenceSets.find(id));
    const key = request.headers['idempotency-key'] as string | undefined;
    const added = await app.store.addSweep({ model: body.model, layer: body.layer, start, end, spec, manifestKey: sweepManifestKey }, key, body);
    const { id, replayed } = added;
    // No placeholder manifest here: the worker writes it when the last unit finishes, and a placeholder
    // written after the units were queued could overwrite the final one of a sweep that finished fast.
    request.log.info({ sweepId: id, units: end - start, replayed }, replayed ? 'idempotent replay' : 'sweep queued');
    // A new sweep is reported as the store created it (no read back); a replay as it is now.
    const sweep = added.replayed ? await app.store.getSweep(id) : added.sweep;
    return reply.code(replayed ? 200 : 202).header('location', `/v1/sweeps/${id}`).send(await sweepView(sweep, { jobs: [], nextCursor: String(sweep.start) }, app.storage));
  });

  app.get('/v1/sweeps/:id', {
    schema: {
      summary: 'A sweep\'s counts and a page of its jobs (in channel order, with results when finished)',
      description: 'With `wait`, the answer comes when every unit has finished and the manifest is written (a moment later) or after `wait` seconds, whichever is first: long polling, instead of asking again and again.',
      params: Type.Object({ id: Type.String({ maxLength: 200 }) }),
      querystring: SweepQuery,
      response: { 200: SweepView, ...problemResponses(400, 404, 409) },
    },
  }, async (request) => {
    const q = request.query as { wait?: number; limit?: number; cursor?: string };
    const { id } = request.params as { id: string };
    // Finished once every unit is and the worker has written the manifest (just after the last unit).
    const { sweep, manifestWritten } = await app.finishWaiters.readUntilFinished(id, q.wait ?? 0, async () => {
      const read = await app.store.getSweep(id);
      return { sweep: read, manifestWritten: await sweepManifestWritten(read, app.storage) };
    }, (read) => read.manifestWritten);
    const page = await app.store.sweepJobs(sweep, Math.min(q.limit ?? 100, app.config.maxListLimit), q.cursor);
    return sweepView(sweep, page, app.storage, manifestWritten);
  });
};
