/** A worker process (docker-compose's `worker` service; scale with --scale worker=N). */
import { pino } from 'pino';
import { loadConfig, loggerOptions } from '@featurevis/config';
import { createServices } from '@featurevis/runtime';
import { startWorker } from './worker.ts';

const config = loadConfig();
const logger = pino(loggerOptions(config)).child({ service: 'worker' });
const services = await createServices(config, { warn: (m) => logger.warn(m) });
const running = await startWorker({ config, ...services, logger });
logger.info({ concurrency: config.workerConcurrency, backend: running.backend.name }, 'featurevis worker ready');
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'shutting down');
    running.close().then(() => services.close()).then(() => process.exit(0), () => process.exit(1));
  });
}
