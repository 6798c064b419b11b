/**
 * A job with `compare` (issue 5: features across training, comparing networks): the same objective,
 * settings and seed on each model of `compare.models` in turn, then every model's images scored by
 * every model — the transferability table. Model k's images are stored as
 * jobs/{id}/model-{k}-image-{i}.png (and -attribution-{i}, snapshots/model-{k}-step-…), the filmstrip as
 * jobs/{id}/filmstrip.png, and metadata.json last, as for any job.
 */
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { ModelView } from '@featurevis/contracts';
import type { ImageScore } from '@featurevis/engine';
import type { JobOutcome, JobSpec, JobStore, QueuedJobData, StoredImage } from '@featurevis/queue';
import type { Storage } from '@featurevis/storage';
import type { EnginePool } from './engine-pool.ts';
import { filmstrip } from './filmstrip.ts';

export const compareKeys = {
  image: (id: string, model: number, index: number) => `jobs/${id}/model-${model}-image-${index}.png`,
  attribution: (id: string, model: number, index: number) => `jobs/${id}/model-${model}-attribution-${index}.png`,
  snapshot: (id: string, model: number, step: number, index: number) => `jobs/${id}/snapshots/model-${model}-step-${String(step).padStart(5, '0')}-image-${index}.png`,
  filmstrip: (id: string) => `jobs/${id}/filmstrip.png`,
  metadata: (id: string) => `jobs/${id}/metadata.json`,
};

export interface ComparisonContext {
  job: Job<QueuedJobData, JobOutcome>;
  spec: JobSpec;
  /** The models in `compare.models` order (the API put the job's `model` in it, first where the request did not name it). */
  views: ModelView[];
  store: JobStore;
  storage: Storage;
  engine: EnginePool;
  log: Logger;
  progressEverySteps: number;
  running: Map<string, () => void>;
  startedAt: number;
}

/**
 * The transferability table: `values[k][m]` is the batch mean of model k's images scored by model m —
 * the target class probability when every image's objective is a class, else the objective's value.
 */
export function transferTable(scores: ImageScore[][][]): { metric: 'classProbability' | 'objective'; values: number[][] } {
  const all = scores.flat(2);
  const metric = all.length > 0 && all.every((s) => s.classProbability !== null) ? 'classProbability' : 'objective';
  const mean = (list: ImageScore[]) => list.reduce((sum, s) => sum + (metric === 'classProbability' ? s.classProbability! : s.objective), 0) / list.length;
  // scores[m][k]: scorer m, maker k; the table reads by maker (row), then scorer (column).
  const values = scores[0]!.map((_, k) => scores.map((byScorer) => mean(byScorer[k]!)));
  return { metric, values };
}

export async function runComparison(context: ComparisonContext): Promise<JobOutcome> {
  const { job, spec, views, store, storage, engine, log, running, startedAt } = context;
  const id = job.id!;
  // The engine runs one model's plain request: no comparison fields.
  const { compare: _compare, filmstrip: wantsFilmstrip, ...single } = spec;
  const steps = spec.steps ?? 0;
  const outputs = [];
  for (const [k, view] of views.entries()) {
    log.info({ model: view.id, of: views.length, steps }, 'comparison: running model');
    const handle = engine.run(view, { ...single, model: view.id }, {
      progressEverySteps: context.progressEverySteps,
      // One progress bar for the whole comparison: model k's step s is step k·steps + s.
      onProgress: (p) => { job.updateProgress({ step: k * p.steps + p.step, steps: views.length * p.steps, objective: p.objective }).catch((err) => log.warn({ err }, 'progress update failed')); },
    });
    running.set(id, handle.cancel);
    if (await store.isCancelRequested(id)) handle.cancel();
    const output = await handle.promise.finally(() => running.delete(id));
    if (output.leakedTensors > 0) log.warn({ leakedTensors: output.leakedTensors, model: view.id }, 'engine left tensors behind');
    outputs.push(output);
  }

  // scores[m][k][i]: model k's image i scored by model m.
  const imageSets = outputs.map((output) => output.images.map((image) => image.png));
  const scores: ImageScore[][][] = [];
  for (const view of views) scores.push(await engine.score(view, { ...single, model: view.id }, imageSets));
  const transfer = transferTable(scores);

  const images: StoredImage[] = [];
  const attributions: StoredImage[] = [];
  const snapshots: Array<StoredImage & { step: number }> = [];
  for (const [k, output] of outputs.entries()) {
    const model = views[k]!.id;
    for (const image of output.images) {
      const key = compareKeys.image(id, k, image.index);
      await storage.put(key, image.png, { contentType: 'image/png' });
      images.push({ key, width: image.width, height: image.height, index: image.index, model });
    }
    for (const map of output.attributions ?? []) {
      const key = compareKeys.attribution(id, k, map.index);
      await storage.put(key, map.png, { contentType: 'image/png' });
      attributions.push({ key, width: map.width, height: map.height, index: map.index, model });
    }
    for (const snap of output.snapshots) {
      const key = compareKeys.snapshot(id, k, snap.step, snap.index);
      await storage.put(key, snap.png, { contentType: 'image/png' });
      snapshots.push({ key, width: snap.width, height: snap.height, index: snap.index, step: snap.step, model });
    }
  }
  let strip: { key: string; width: number; height: number } | undefined;
  if (wantsFilmstrip) {
    const made = filmstrip(imageSets);
    strip = { key: compareKeys.filmstrip(id), width: made.width, height: made.height };
    await storage.put(strip.key, made.png, { contentType: 'image/png' });
  }

  const finishedAt = Date.now();
  const modelIds = views.map((view) => view.id);
  const withoutPerImage = (metrics: Record<string, unknown>) => Object.fromEntries(Object.entries(metrics).filter(([name]) => name !== 'perImage'));
  // The job's `model` is the primary one: result.metrics and metadata.model are its (the API put it in compare.models).
  const primaryIndex = Math.max(0, modelIds.indexOf(spec.model));
  const primary = outputs[primaryIndex]!;
  const primaryView = views[primaryIndex]!;
  const metrics = {
    ...primary.metrics,
    stepsPerSecond: primary.timings.stepsPerSecond,
    durationMs: finishedAt - startedAt,
    compare: {
      models: modelIds,
      perModel: outputs.map((output, k) => ({ model: modelIds[k], ...withoutPerImage(output.metrics), stepsPerSecond: output.timings.stepsPerSecond })),
      transfer: { metric: transfer.metric, rows: 'model that made the images', columns: 'model that scored them', models: modelIds, values: transfer.values },
    },
  };
  const metadataKey = compareKeys.metadata(id);
  // Written last: a reader who finds metadata.json finds every image it names.
  await storage.put(metadataKey, JSON.stringify({
    jobId: id,
    sweepId: null,
    spec,
    settings: primary.settings,
    model: { id: primaryView.id, name: primaryView.name, hash: primaryView.hash, format: primaryView.format },
    models: views.map((view) => ({ id: view.id, name: view.name, hash: view.hash, format: view.format })),
    seed: spec.seed,
    backend: primary.backend,
    ...(primary.convolutions ? { convolutions: primary.convolutions } : {}),
    attempt: job.attemptsMade + 1,
    trace: primary.trace,
    traces: Object.fromEntries(outputs.map((output, k) => [modelIds[k], output.trace])),
    metrics,
    // Per image: transfer.scores[k][m][i] is model k's image i under model m.
    transfer: { ...metrics.compare.transfer, scores: modelIds.map((_, k) => scores.map((byScorer) => byScorer[k])) },
    timings: { models: Object.fromEntries(outputs.map((output, k) => [modelIds[k], output.timings])), queuedMs: startedAt - job.data.createdAt, wallMs: finishedAt - startedAt },
    images,
    ...(attributions.length ? { attributions } : {}),
    snapshots,
    ...(strip ? { filmstrip: strip } : {}),
    createdAt: new Date(job.data.createdAt).toISOString(),
    startedAt: new Date(startedAt).toISOString(),
    finishedAt: new Date(finishedAt).toISOString(),
  }, null, 2), { contentType: 'application/json' });
  return {
    images,
    ...(attributions.length ? { attributions } : {}),
    ...(strip ? { filmstrip: { key: strip.key } } : {}),
    snapshots,
    metadata: { key: metadataKey },
    metrics,
  };
}
