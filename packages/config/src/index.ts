/**
 * All configuration, read from the environment once at start-up and validated. Every limit of the
 * service is here; README.md's configuration table is generated from SETTINGS (a test keeps them in step).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

type Kind = 'string' | 'int' | 'bool' | 'enum';
interface Setting {
  env: string;
  kind: Kind;
  default?: string | number | boolean;
  values?: readonly string[];
  min?: number;
  max?: number;
  doc: string;
}

const setting = <const S extends Setting>(s: S) => s;

/** Every environment variable the service reads. */
export const SETTINGS = {
  host: setting({ env: 'HOST', kind: 'string', default: '127.0.0.1', doc: 'Address the API listens on.' }),
  port: setting({ env: 'PORT', kind: 'int', default: 3000, min: 0, max: 65535, doc: 'Port the API listens on (0: any free port).' }),
  publicBaseUrl: setting({ env: 'PUBLIC_BASE_URL', kind: 'string', doc: 'Base URL clients use to reach the API (for local-storage file URLs). Default: http://HOST:PORT.' }),
  logLevel: setting({ env: 'LOG_LEVEL', kind: 'enum', default: 'info', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], doc: 'pino log level.' }),
  redisUrl: setting({ env: 'REDIS_URL', kind: 'string', doc: 'Redis to use. Unset with `npm start`: a private redis-server is started on a free port with its data under DATA_DIR/redis.' }),
  queuePrefix: setting({ env: 'QUEUE_PREFIX', kind: 'string', default: 'featurevis', doc: 'Prefix of every Redis key the service writes.' }),
  dataDir: setting({ env: 'DATA_DIR', kind: 'string', default: './data', doc: 'Data directory: local storage and the embedded Redis.' }),
  modelsDir: setting({ env: 'MODELS_DIR', kind: 'string', doc: 'Folder of bundled models (read-only). Default: the repository\'s models/.' }),
  storageDriver: setting({ env: 'STORAGE_DRIVER', kind: 'enum', default: 'local', values: ['local', 's3'], doc: 'Where images, metadata and uploaded models go.' }),
  s3Endpoint: setting({ env: 'S3_ENDPOINT', kind: 'string', doc: 'S3 endpoint URL (MinIO, s3rver, ...); unset for AWS.' }),
  s3Region: setting({ env: 'S3_REGION', kind: 'string', default: 'us-east-1', doc: 'S3 region.' }),
  s3Bucket: setting({ env: 'S3_BUCKET', kind: 'string', default: 'featurevis', doc: 'S3 bucket (created at start-up when missing).' }),
  s3AccessKeyId: setting({ env: 'S3_ACCESS_KEY_ID', kind: 'string', doc: 'S3 access key; unset: the SDK\'s default credential chain.' }),
  s3SecretAccessKey: setting({ env: 'S3_SECRET_ACCESS_KEY', kind: 'string', doc: 'S3 secret key.' }),
  s3ForcePathStyle: setting({ env: 'S3_FORCE_PATH_STYLE', kind: 'bool', default: false, doc: 'Path-style bucket URLs (MinIO, s3rver).' }),
  presignExpiresS: setting({ env: 'PRESIGN_EXPIRES_S', kind: 'int', default: 3600, min: 1, max: 604800, doc: 'Lifetime of presigned S3 URLs in job responses.' }),
  maxSteps: setting({ env: 'MAX_STEPS', kind: 'int', default: 4096, min: 1, doc: 'Largest `steps` a request may ask for.' }),
  maxImageSizePx: setting({ env: 'MAX_IMAGE_SIZE_PX', kind: 'int', default: 512, min: 8, doc: 'Largest `image.size`.' }),
  maxBatch: setting({ env: 'MAX_BATCH', kind: 'int', default: 64, min: 1, doc: 'Largest `image.batch`.' }),
  maxSweepChannels: setting({ env: 'MAX_SWEEP_CHANNELS', kind: 'int', default: 16384, min: 1, doc: 'Most units one sweep may create.' }),
  maxBodyBytes: setting({ env: 'MAX_BODY_BYTES', kind: 'int', default: 1048576, min: 1024, doc: 'Largest JSON request body (413 above).' }),
  maxModelUploadBytes: setting({ env: 'MAX_MODEL_UPLOAD_BYTES', kind: 'int', default: 268435456, min: 1024, doc: 'Largest model upload, all files together (413 above).' }),
  referenceSetMaxImages: setting({ env: 'REFERENCE_SET_MAX_IMAGES', kind: 'int', default: 2048, min: 1, doc: 'Most images one uploaded reference set may hold (413 above).' }),
  referenceSetMaxBytes: setting({ env: 'REFERENCE_SET_MAX_BYTES', kind: 'int', default: 67108864, min: 1024, doc: 'Largest reference set upload, all parts together (413 above).' }),
  referenceSetMaxSidePx: setting({ env: 'REFERENCE_SET_MAX_SIDE_PX', kind: 'int', default: 1024, min: 8, doc: 'Largest width or height of an image in an uploaded reference set (422 above): bounds the memory decoding takes.' }),
  referenceSetMaxPixels: setting({ env: 'REFERENCE_SET_MAX_PIXELS', kind: 'int', default: 104857600, min: 64, doc: 'Most pixels an uploaded reference set may decode to, all images together (413 above): an upload is validated whole before it is stored, and small, highly compressed PNGs can decode to far more than REFERENCE_SET_MAX_BYTES (3 bytes a pixel).' }),
  referenceSetCacheMb: setting({ env: 'REFERENCE_SET_CACHE_MB', kind: 'int', default: 256, min: 1, doc: 'Memory budget of each worker\'s cache of decoded reference sets (least recently used evicted first).' }),
  longPollMaxS: setting({ env: 'LONG_POLL_MAX_S', kind: 'int', default: 30, min: 0, max: 300, doc: 'Longest a `GET /v1/jobs/{id}?wait=` or `GET /v1/sweeps/{id}?wait=` waits for its job or sweep to finish before answering with its status as it is (longer waits are cut to this; 0 answers at once).' }),
  longPollRecheckMs: setting({ env: 'LONG_POLL_RECHECK_MS', kind: 'int', default: 1000, min: 10, doc: 'How often a waiting long poll reads its job or sweep again even without an announcement (announcements are Redis pub/sub, which a reconnecting API can miss): the most a missed one delays the answer, and each waiting request costs one read this often.' }),
  maxListLimit: setting({ env: 'MAX_LIST_LIMIT', kind: 'int', default: 1000, min: 1, doc: 'Largest page size of job and sweep listings.' }),
  jobAttempts: setting({ env: 'JOB_ATTEMPTS', kind: 'int', default: 3, min: 1, max: 100, doc: 'Attempts per job for transient failures (invalid requests fail at once).' }),
  jobBackoffMs: setting({ env: 'JOB_BACKOFF_MS', kind: 'int', default: 2000, min: 0, doc: 'First retry delay; doubles each attempt.' }),
  jobRetentionS: setting({ env: 'JOB_RETENTION_S', kind: 'int', default: 604800, min: 1, doc: 'How long finished jobs and sweeps stay readable.' }),
  idempotencyTtlS: setting({ env: 'IDEMPOTENCY_TTL_S', kind: 'int', default: 86400, min: 1, doc: 'How long an Idempotency-Key is remembered.' }),
  workerConcurrency: setting({ env: 'WORKER_CONCURRENCY', kind: 'int', default: 1, min: 1, max: 64, doc: 'Jobs one worker process runs at once (each in its own engine thread).' }),
  lockDurationMs: setting({ env: 'LOCK_DURATION_MS', kind: 'int', default: 30000, min: 500, doc: 'BullMQ job lock; renewed while the job runs off the event loop.' }),
  stalledIntervalMs: setting({ env: 'STALLED_INTERVAL_MS', kind: 'int', default: 30000, min: 500, doc: 'How often BullMQ checks for stalled jobs.' }),
  progressEverySteps: setting({ env: 'PROGRESS_EVERY_STEPS', kind: 'int', default: 4, min: 1, doc: 'Progress (and cancellation) reporting interval in optimisation steps.' }),
  sweepBatchMax: setting({ env: 'SWEEP_BATCH_MAX', kind: 'int', default: 64, min: 1, max: 1024, doc: 'Most jobs a worker optimises together in one batched run: a sweep\'s units, or waiting one-image jobs that differ only in their objective (1: every job on its own).' }),
  sweepBatchPixels: setting({ env: 'SWEEP_BATCH_PIXELS', kind: 'int', default: 262144, min: 64, doc: 'Memory budget of a batched run (sweep units or grouped jobs), in image pixels (batch × size²); activation memory grows with it.' }),
  storeConcurrency: setting({ env: 'STORE_CONCURRENCY', kind: 'int', default: 32, min: 1, max: 256, doc: 'Units of a batched run whose images and metadata a worker writes to storage at once (a 64-unit run\'s files, local storage, 2 cores: ≈ 85 ms at 8, ≈ 60 ms at 32 or 64).' }),
  modelCacheMb: setting({ env: 'MODEL_CACHE_MB', kind: 'int', default: 512, min: 1, doc: 'Memory budget of each engine thread\'s cache of loaded models (least recently used evicted first): a model counts its weights and, on WASM once it has run, the input-gradient filters derived from them (about as much again).' }),
  workerCloseTimeoutMs: setting({ env: 'WORKER_CLOSE_TIMEOUT_MS', kind: 'int', default: 10000, min: 100, doc: 'Bound on a graceful worker shutdown (BullMQ close can hang while Redis is unreachable).' }),
  wasmThreads: setting({ env: 'WASM_THREADS', kind: 'int', default: 0, min: 0, max: 8, doc: 'Threads each engine thread\'s WASM backend runs convolutions on (the convolution addon\'s where NATIVE_CONV allows and it is available, XNNPACK then running the rest on one thread; else XNNPACK\'s); 0: the cores divided among WORKER_CONCURRENCY engine threads; 1: single-threaded. On 2 cores two threads make batched runs (sweeps, grouped jobs) 1.5–1.9× faster; where other processes share the cores, a parallel kernel waits for its slowest thread and most of that gain can be lost (set 1 there); see bench/README.md.' }),
  wasmThreadsMinPixels: setting({ env: 'WASM_THREADS_MIN_PIXELS', kind: 'int', default: 4096, min: 0, doc: 'With XNNPACK threads (NATIVE_CONV off or unavailable; the addon itself splits only convolutions of 8 M multiply-adds a thread or more): a run with fewer image pixels a step (batch × size²) runs on one thread, where waking the others for every kernel costs more than they save (measured: one-image 32-px steps 5–15 % slower on two threads). 0: always threaded.' }),
  nativeConv: setting({ env: 'NATIVE_CONV', kind: 'enum', default: 'auto', values: ['auto', 'off'], doc: 'WASM backend: auto runs dense convolutions (forward and input gradients, and a layer sweep\'s one-channel-an-item convolutions; depthwise ones stay on XNNPACK) and spatial means (global average pooling) in the addon packages/native-conv where npm install built it, in AVX-512 where the CPU has it, else in AVX2 with FMA, on WASM_THREADS threads, with XNNPACK single-threaded for the rest (measured on 2 cores, batch-64 3×3 convolutions on one thread: AVX-512 2–5.5× faster than XNNPACK, AVX2 about 2×); off: XNNPACK (and the project\'s WebAssembly kernels) for everything. Results record which ran (metadata.convolutions: avx512, avx2 or xnnpack); the worker logs it and why.' }),
  tfjsBackend: setting({ env: 'TFJS_BACKEND', kind: 'enum', default: 'auto', values: ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu', 'webgpu'], doc: 'TensorFlow.js backend; auto: tfjs-node-gpu, else tfjs-node, else WASM, else pure JS.' }),
  embeddedWorker: setting({ env: 'EMBEDDED_WORKER', kind: 'bool', default: true, doc: '`npm start` also runs a worker in the same process group.' }),
} as const;

type ValueOf<S> = S extends { kind: 'int' } ? number : S extends { kind: 'bool' } ? boolean : string;
type Settings = typeof SETTINGS;
export type Config = {
  -readonly [K in keyof Settings]: Settings[K] extends { default: string | number | boolean } ? ValueOf<Settings[K]> : ValueOf<Settings[K]> | undefined;
} & { modelsDir: string };

export class ConfigError extends Error {
  constructor(message: string) { super(message); this.name = 'ConfigError'; }
}

function parse(name: string, s: Setting, raw: string): string | number | boolean {
  switch (s.kind) {
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`${s.env}: expected an integer, got "${raw}"`);
      const n = Number(raw);
      if (s.min !== undefined && n < s.min) throw new ConfigError(`${s.env}: ${n} is below the minimum ${s.min}`);
      if (s.max !== undefined && n > s.max) throw new ConfigError(`${s.env}: ${n} is above the maximum ${s.max}`);
      return n;
    }
    case 'bool':
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      throw new ConfigError(`${s.env}: expected true or false, got "${raw}"`);
    case 'enum':
      if (!s.values!.includes(raw)) throw new ConfigError(`${s.env}: expected one of ${s.values!.join(', ')}, got "${raw}"`);
      return raw;
    default:
      return raw;
  }
}

/** Reads and validates the configuration; `overrides` (tests) win over the environment. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const out: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(SETTINGS) as [string, Setting][]) {
    const raw = env[s.env];
    out[name] = raw !== undefined && raw !== '' ? parse(name, s, raw) : s.default;
  }
  Object.assign(out, Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)));
  const config = out as Config;
  config.dataDir = path.resolve(config.dataDir);
  config.modelsDir = path.resolve(config.modelsDir ?? path.join(REPO_ROOT, 'models'));
  if (config.storageDriver === 's3' && !config.s3Bucket) throw new ConfigError('S3_BUCKET: required when STORAGE_DRIVER=s3');
  return config;
}

/** The public base URL, once the port is known. */
export function publicBaseUrl(config: Config, port = config.port): string {
  return (config.publicBaseUrl ?? `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`).replace(/\/$/, '');
}

/** The README's configuration table, generated from SETTINGS. */
export function configTableMarkdown(): string {
  const rows = Object.values(SETTINGS as Record<string, Setting>).map((s) =>
    `| \`${s.env}\` | ${s.default === undefined ? '—' : `\`${s.default}\``} | ${s.doc}${s.values ? ` One of: ${s.values.map((v) => `\`${v}\``).join(', ')}.` : ''} |`);
  return ['| variable | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

/** pino options for every process: credentials never logged. Request and job ids come from child loggers. */
export function loggerOptions(config: Pick<Config, 'logLevel'>) {
  return {
    level: config.logLevel,
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]', 'headers.authorization', '*.s3SecretAccessKey', '*.secretAccessKey', 'config.s3SecretAccessKey'],
      censor: '[redacted]',
    },
  };
}
