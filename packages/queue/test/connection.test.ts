/** Start-up checks on the Redis the queue runs on, against a real redis-server. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkEvictionPolicy, createRedis, startRedisServer, type RedisServerHandle } from '../src/index.ts';

let server: RedisServerHandle;
before(async () => { server = await startRedisServer(); });
after(async () => { await server.stop(); });

test('noeviction passes; an evicting policy is refused with how to fix it', async () => {
  const redis = createRedis(server.url, 'api');
  try {
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    assert.equal(await checkEvictionPolicy(redis), null);
    await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
    await assert.rejects(checkEvictionPolicy(redis), /maxmemory-policy is "allkeys-lru".*noeviction/);
  } finally {
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    redis.disconnect();
  }
});

test('worker and subscriber connections retry forever (BullMQ needs maxRetriesPerRequest: null); the API fails fast', () => {
  for (const role of ['worker', 'subscriber'] as const) {
    const redis = createRedis(server.url, role);
    assert.equal(redis.options.maxRetriesPerRequest, null);
    redis.disconnect();
  }
  const api = createRedis(server.url, 'api');
  assert.equal(typeof api.options.maxRetriesPerRequest, 'number');
  api.disconnect();
});
