import { Redis } from 'ioredis';

/**
 * A Redis connection for BullMQ. Workers' (blocking) connections need `maxRetriesPerRequest: null`
 * (BullMQ's own requirement); the API's fail fast instead so a request never hangs on a dead Redis.
 */
export function createRedis(url: string, role: 'api' | 'worker' | 'subscriber'): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: role === 'api' ? 2 : null,
    enableReadyCheck: true,
    lazyConnect: false,
    connectionName: `featurevis-${role}`,
  });
}

/**
 * BullMQ loses jobs when Redis evicts keys: anything but `noeviction` is refused at start-up.
 * Managed Redis that forbids CONFIG GET is let through with a warning returned to the caller.
 */
export async function checkEvictionPolicy(redis: Redis): Promise<string | null> {
  let reply: unknown;
  try {
    reply = await redis.config('GET', 'maxmemory-policy');
  } catch (err) {
    return `could not read maxmemory-policy (${(err as Error).message}); make sure it is noeviction`;
  }
  const policy = Array.isArray(reply) ? String(reply[1]) : '';
  if (policy !== 'noeviction') {
    throw new Error(`Redis maxmemory-policy is "${policy}"; BullMQ needs "noeviction" (set it with CONFIG SET maxmemory-policy noeviction or in redis.conf)`);
  }
  return null;
}
