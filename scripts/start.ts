/**
 * `npm start`: the whole service on one machine with no configuration — the API and a worker, Redis
 * from REDIS_URL or else a private redis-server (data under DATA_DIR/redis), local storage in DATA_DIR.
 */
import path from 'node:path';
import { pino } from 'pino';
import { loadConfig, loggerOptions, publicBaseUrl } from '@featurevis/config';
import { startRedisServer } from '@featurevis/queue';
import { startApi } from '@featurevis/api';
import { startWorker, type RunningWorker } from '@featurevis/worker';
import { createServices } from '@featurevis/runtime';

const env = { ...process.env };
const config = loadConfig(env);
const logger = pino(loggerOptions(config));
let redisServer: Awaited<ReturnType<typeof startRedisServer>> | null = null;
if (!config.redisUrl) {
  try {
    redisServer = await startRedisServer({ dataDir: path.join(config.dataDir, 'redis') });
  } catch (err) {
    logger.fatal((err as Error).message);
    console.error(`\nfeaturevis needs Redis: set REDIS_URL, or install redis-server (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis).`);
    process.exit(1);
  }
  config.redisUrl = redisServer.url;
  logger.info({ redisUrl: redisServer.url, dataDir: path.join(config.dataDir, 'redis') }, 'started a private redis-server');
}

const api = await startApi(config);
let worker: RunningWorker | null = null;
let workerServices: Awaited<ReturnType<typeof createServices>> | null = null;
if (config.embeddedWorker) {
  workerServices = await createServices({ ...config }, { port: Number(new URL(api.url).port) });
  worker = await startWorker({ config, ...workerServices, logger: logger.child({ service: 'worker' }) });
}
const url = publicBaseUrl(config, Number(new URL(api.url).port));
logger.info({ url, storage: config.storageDriver, dataDir: config.dataDir, backend: worker?.backend.name }, 'featurevis is ready');
console.log(`\nfeaturevis is running at ${url}\n  models:  curl ${url}/v1/models\n  a job:   curl -X POST ${url}/v1/jobs -H 'content-type: application/json' -d '{"model":"shapes-a","objective":{"type":"class","class":0}}'\n`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await worker?.close();
    await workerServices?.close();
    await api.close();
    await redisServer?.stop();
    process.exit(0);
  });
}
