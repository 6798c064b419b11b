/** The service's connections and stores, built from the configuration (shared by the API and the worker). */
import type { Redis } from 'ioredis';
import { publicBaseUrl, type Config } from '@featurevis/config';
import { ModelCatalog } from '@featurevis/catalog';
import { checkEvictionPolicy, createRedis, JobStore } from '@featurevis/queue';
import { createStorage, type Storage } from '@featurevis/storage';

export interface Services {
  redis: Redis;
  store: JobStore;
  storage: Storage;
  catalog: ModelCatalog;
  close(): Promise<void>;
}

export function createStorageFromConfig(config: Config, port = config.port): Storage {
  return config.storageDriver === 's3'
    ? createStorage({
        driver: 's3', endpoint: config.s3Endpoint, region: config.s3Region, bucket: config.s3Bucket,
        accessKeyId: config.s3AccessKeyId, secretAccessKey: config.s3SecretAccessKey,
        forcePathStyle: config.s3ForcePathStyle, presignExpiresS: config.presignExpiresS,
      })
    : createStorage({ driver: 'local', dataDir: `${config.dataDir}/storage`, publicBaseUrl: publicBaseUrl(config, port) });
}

/** Connects to Redis (checking its eviction policy) and storage. Returns warnings to log. */
export async function createServices(config: Config, options: { port?: number; warn?: (msg: string) => void } = {}): Promise<Services> {
  if (!config.redisUrl) throw new Error('REDIS_URL is not set');
  const redis = createRedis(config.redisUrl, 'api');
  const warning = await checkEvictionPolicy(redis);
  if (warning) options.warn?.(warning);
  const storage = createStorageFromConfig(config, options.port);
  // The data directory or the bucket exists from the start, so /readyz is true before the first write.
  await storage.ensureReady();
  const store = new JobStore({
    redis, prefix: config.queuePrefix, attempts: config.jobAttempts, backoffMs: config.jobBackoffMs,
    retentionS: config.jobRetentionS, idempotencyTtlS: config.idempotencyTtlS,
  });
  const catalog = new ModelCatalog(storage, config.modelsDir);
  return {
    redis, store, storage, catalog,
    async close() { await store.close(); redis.disconnect(); },
  };
}

