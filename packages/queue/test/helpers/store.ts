/** A JobStore against a redis-server of the test file's own, started before its tests and stopped after. */
import { after, before } from 'node:test';
import { createRedis, JobStore, startRedisServer, type RedisServerHandle } from '../../src/index.ts';

export interface StoreHandle { store: JobStore; redis: ReturnType<typeof createRedis> }

/** Registers the before/after hooks; the handle's fields are set once `before` has run. */
export function storeForTests(prefix: string): StoreHandle {
  const handle = {} as StoreHandle;
  let server: RedisServerHandle;
  before(async () => {
    server = await startRedisServer();
    handle.redis = createRedis(server.url, 'api');
    handle.store = new JobStore({ redis: handle.redis, prefix, attempts: 1, backoffMs: 10, retentionS: 3600, idempotencyTtlS: 3600 });
  });
  after(async () => { await handle.store.close(); handle.redis.disconnect(); await server.stop(); });
  return handle;
}
