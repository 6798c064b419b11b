/** Request and response shapes of the HTTP API (/v1). openapi.yaml is generated from these. */
import { Type, type Static } from '@sinclair/typebox';
import { Closed, Id, Nullable, Timestamp } from './common.ts';
import { EngineSettings, LayerName, Objective } from './engine-spec.ts';

// ---- jobs ----
/** At most this many models in one comparison (`compare.models`, the primary `model` included). */
export const MAX_COMPARE_MODELS = 16;
export const Compare = Closed({
  models: Type.Array(Id, {
    minItems: 1, maxItems: MAX_COMPARE_MODELS, uniqueItems: true,
    description: `Models to run the same objective, settings and seed on, in this order (checkpoints of one model: features across training; two models: comparing networks). The job's \`model\` is the primary one: where this list does not name it, it is put first. With it, 2–${MAX_COMPARE_MODELS} models in all; the objective must be valid on every one.`,
  }),
}, { description: 'Run the job on several models in turn: one image set per model, and a transferability table — each model\'s images scored by every model (result.metrics.compare).' });
export type Compare = Static<typeof Compare>;

export const JobRequest = Closed({
  model: Id,
  objective: Objective,
  compare: Type.Optional(Compare),
  filmstrip: Type.Optional(Type.Boolean({ default: false, description: 'With `compare`: also store one PNG with the models\' images side by side in `compare.models` order (a row per batch item), result.filmstrip.' })),
  ...EngineSettings,
}, { title: 'JobRequest' });
export type JobRequest = Static<typeof JobRequest>;

export const JobStatus = Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('canceled')], {
  title: 'JobStatus',
  description: 'queued: waiting for a worker. running: being optimised, by a worker of its own or inside another job\'s batched run (grouped jobs, sweep units: progress is then the run\'s step, its objective null). succeeded (also as soon as a batched run has stored a job\'s result), failed, canceled: final.',
});
export type JobStatus = Static<typeof JobStatus>;
export const JOB_STATUSES: JobStatus[] = ['queued', 'running', 'succeeded', 'failed', 'canceled'];

export const StoredObject = Type.Object({
  key: Type.String({ description: 'The object\'s key in storage.' }),
  url: Type.String({ description: 'A URL the client can GET: presigned for S3, a route of this API for local storage.' }),
});
export const ImageRef = Type.Object({
  ...StoredObject.properties,
  width: Type.Integer(),
  height: Type.Integer(),
  index: Type.Integer({ description: 'Position in the batch.' }),
  model: Type.Optional(Type.String({ description: 'The model that made this image (jobs with `compare`).' })),
});
export const DatasetExampleRef = Type.Object({
  ...ImageRef.properties,
  kind: Type.Union([Type.Literal('top'), Type.Literal('bottom')], { description: 'Among the reference images that drive this unit most (top) or least (bottom).' }),
  rank: Type.Integer({ minimum: 0, description: '0 = the highest (top) or the lowest (bottom).' }),
  value: Type.Number({ description: 'The objective on this reference image.' }),
  label: Type.String({ description: 'The reference image\'s class in its set.' }),
  referenceIndex: Type.Integer({ minimum: 0, description: 'Which image of the reference set.' }),
});
export const JobResult = Type.Object({
  images: Type.Array(ImageRef),
  examples: Type.Optional(Type.Array(DatasetExampleRef, { description: 'Dataset examples: per image, the reference set\'s top-k and bottom-k images for its objective (with `reference`).' })),
  attributions: Type.Optional(Type.Array(ImageRef, { description: 'Per image, where the objective drew on it over the optimisation (accumulated |gradient|, grey PNG, brightest = most): the MACO transparency map. Only for parameterisations that record it (maco).' })),
  filmstrip: Type.Optional(Type.Object(StoredObject.properties, { description: 'With `compare` and `filmstrip`: the models\' images side by side in `compare.models` order, a row per batch item (PNG).' })),
  metadata: StoredObject,
  metrics: Type.Record(Type.String(), Type.Unknown(), { description: 'Final objective value and image statistics; see metadata for the per-step trace. With `compare`: these are the primary model\'s, and `compare` holds each model\'s metrics and the transferability table.' }),
});
export const Progress = Type.Object({
  step: Type.Integer(),
  steps: Type.Integer(),
  objective: Nullable(Type.Number()),
});
export const JobView = Type.Object({
  id: Type.String(),
  status: JobStatus,
  model: Type.String(),
  objective: Objective,
  spec: Type.Record(Type.String(), Type.Unknown(), { description: 'The request with every default filled in, as the worker ran it.' }),
  sweepId: Nullable(Type.String()),
  progress: Progress,
  attempts: Type.Integer({ description: 'Attempts made so far (transient failures are retried with backoff).' }),
  createdAt: Timestamp,
  startedAt: Nullable(Timestamp),
  finishedAt: Nullable(Timestamp),
  result: Nullable(JobResult),
  error: Nullable(Type.Object({ message: Type.String() })),
}, { title: 'Job' });
export type JobView = Static<typeof JobView>;

export const JobList = Type.Object({
  jobs: Type.Array(JobView),
  nextCursor: Nullable(Type.String({ description: 'Pass as ?cursor= to get the next page; null on the last page.' })),
}, { title: 'JobList' });

export const JobListQuery = Closed({
  status: Type.Optional(JobStatus),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 200, pattern: '^[0-9]{15}:[A-Za-z0-9_.:-]{1,180}$', description: 'The nextCursor of the previous page, as given.' })),
});

// ---- sweeps ----
export const ChannelRange = Closed({
  start: Type.Integer({ minimum: 0 }),
  end: Type.Integer({ minimum: 1, description: 'Exclusive.' }),
});
export const SweepRequest = Closed({
  model: Id,
  layer: LayerName,
  channels: Type.Union([Type.Literal('all'), ChannelRange], { description: '"all" or { start, end } with end exclusive; bounded by MAX_SWEEP_CHANNELS.' }),
  ...EngineSettings,
}, { title: 'SweepRequest' });
export type SweepRequest = Static<typeof SweepRequest>;

export const SweepCounts = Type.Object(Object.fromEntries(JOB_STATUSES.map((s) => [s, Type.Integer()])) as Record<JobStatus, ReturnType<typeof Type.Integer>>);
export const SweepView = Type.Object({
  id: Type.String(),
  status: Type.Union(JobStatus.anyOf, { description: 'queued until a unit starts; running while any unit is queued or running; then succeeded when all succeeded, failed when any failed, canceled when any was canceled and none failed.' }),
  model: Type.String(),
  layer: Type.String(),
  channels: Type.Object({ start: Type.Integer(), end: Type.Integer() }),
  total: Type.Integer(),
  counts: SweepCounts,
  createdAt: Timestamp,
  manifest: Nullable(StoredObject),
  jobs: Type.Array(JobView),
  nextCursor: Nullable(Type.String()),
}, { title: 'Sweep' });
export type SweepView = Static<typeof SweepView>;
/** Long polling (services/api/src/finish-waiters.ts); the server cuts it to LONG_POLL_MAX_S. */
const Wait = (what: string) => Type.Optional(Type.Integer({
  minimum: 0, maximum: 300, default: 0,
  description: `Seconds to wait for the ${what} to finish before answering: the answer comes as soon as it has finished, or after this long with its status as it is then. At most the server's LONG_POLL_MAX_S (default 30; longer waits are cut to it); 0 answers at once.`,
}));

export const JobQuery = Closed({
  wait: Wait('job'),
});

export const SweepQuery = Closed({
  wait: Wait('sweep (every unit)'),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  cursor: Type.Optional(Type.String({ maxLength: 10, pattern: '^[0-9]{1,10}$', description: 'The nextCursor of the previous page, as given.' })),
});

// ---- models ----
export const InputRange = Closed({ range: Type.Tuple([Type.Number(), Type.Number()]) });
export const InputNormalization = Closed({
  mean: Type.Array(Type.Number(), { minItems: 1, maxItems: 3 }),
  std: Type.Array(Type.Number({ exclusiveMinimum: 0 }), { minItems: 1, maxItems: 3 }),
});
export const ModelMetadata = Closed({
  id: Type.Optional(Id),
  name: Type.Optional(Type.String({ maxLength: 200 })),
  input: Type.Optional(Type.Union([InputRange, InputNormalization])),
  labels: Type.Optional(Type.Array(Type.String({ maxLength: 128 }), { maxItems: 100000 })),
}, { title: 'ModelMetadata' });
export type ModelMetadata = Static<typeof ModelMetadata>;

export const LayerInfo = Type.Object({
  name: Type.String(),
  shape: Type.Array(Nullable(Type.Integer()), { description: 'Output shape without the batch dimension; null where the size follows the input.' }),
  channels: Type.Integer(),
  className: Type.Optional(Type.String({ description: 'Layer class (LayersModel) or op (GraphModel).' })),
});
export type LayerInfo = Static<typeof LayerInfo>;
export const ModelView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  format: Type.Union([Type.Literal('layers'), Type.Literal('graph')]),
  hash: Type.String({ description: 'sha256 of model.json and the weights.' }),
  bundled: Type.Boolean(),
  input: Type.Object({
    shape: Type.Array(Nullable(Type.Integer()), { description: '[height, width, channels]; null where any size is accepted.' }),
    channels: Type.Integer(),
    defaultSizePx: Type.Integer(),
    range: Type.Optional(Type.Tuple([Type.Number(), Type.Number()])),
    mean: Type.Optional(Type.Array(Type.Number())),
    std: Type.Optional(Type.Array(Type.Number())),
  }),
  output: Type.Object({ layer: Type.String(), classes: Type.Integer(), logitsLayer: Nullable(Type.String()) }),
  labels: Nullable(Type.Array(Type.String())),
  layers: Type.Array(LayerInfo),
  createdAt: Timestamp,
}, { title: 'Model' });
export type ModelView = Static<typeof ModelView>;
export const ModelList = Type.Object({ models: Type.Array(ModelView) }, { title: 'ModelList' });

// ---- reference image sets (issue 5) ----
export const ReferenceSetImage = Type.Object({
  index: Type.Integer({ description: 'The image\'s index in the set: what `reference` dataset examples call referenceIndex and an inversion\'s image.reference.index names.' }),
  name: Type.String({ description: 'The uploaded file\'s name.' }),
  label: Nullable(Type.String({ description: 'The label the upload gave the image (dataset examples show it; the file name where none).' })),
  width: Type.Integer(),
  height: Type.Integer(),
  key: Type.String({ description: 'Storage key of the stored image: the upload decoded and re-encoded as an 8-bit RGB PNG.' }),
});
export const ReferenceSetView = Type.Object({
  id: Type.String(),
  bundled: Type.Boolean({ description: 'true for `shapes`, the bundled procedural set, rendered at any size and count.' }),
  count: Nullable(Type.Integer({ description: 'Images in the set; null for the procedural `shapes` set (any count up to reference.count\'s maximum).' })),
  hash: Nullable(Type.String({ description: 'sha256 of the stored images and labels (null for `shapes`).' })),
  labels: Nullable(Type.Array(Type.String(), { description: 'The distinct labels of the images, sorted; null when the upload gave none.' })),
  images: Type.Array(ReferenceSetImage, { description: 'The images in set order (empty for `shapes`).' }),
  createdAt: Nullable(Timestamp),
}, { title: 'ReferenceSet' });
export type ReferenceSetView = Static<typeof ReferenceSetView>;
export const ReferenceSetList = Type.Object({ referenceSets: Type.Array(ReferenceSetView) }, { title: 'ReferenceSetList' });

// ---- errors (RFC 9457) ----
export const Problem = Type.Object({
  type: Type.String(),
  title: Type.String(),
  status: Type.Integer(),
  detail: Type.String({ description: 'What was wrong, naming the field.' }),
  instance: Type.Optional(Type.String()),
  field: Type.Optional(Type.String({ description: 'The offending field as a dotted path, where one is to blame.' })),
}, { title: 'Problem' });
export type Problem = Static<typeof Problem>;
