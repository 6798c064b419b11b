/**
 * Long polling: `GET /v1/jobs/{id}?wait=S` and `GET /v1/sweeps/{id}?wait=S` answer as soon as the job
 * or sweep has finished, or after S seconds with its status as it is then. A client that waits for a
 * result this way learns of it at once, and costs the service one request instead of one every few
 * hundred milliseconds (a poll is a few Redis round trips and a view; on a machine the workers share,
 * frequent polling slowed a batched run measurably: bench/README.md).
 *
 * Woken by what can finish a job: BullMQ's `completed` and `failed` events (QueueEvents, a Redis stream,
 * so no event is lost while the reader is connected) and the cancel channel (a queued job is canceled
 * by the API, without an event); and for a sweep, by each of its units and by the worker's
 * announcement that its manifest is written (a sweep is answered once it is, so the answer carries
 * the manifest's URL). A wake-up only says "read again": the route reads the store, which stays the
 * one source of truth. In case an event is missed (published before the reader was listening, or while its
 * connection was down), a waiting request reads again at least every RECHECK_MS.
 *
 * The two connections are opened on the first request that waits, so an API nobody long-polls opens
 * none. Closing the app wakes every waiting request first (each answers with its status as it is).
 *
 * Why not a library: the waiting is a map of wake-up callbacks over BullMQ's QueueEvents and ioredis's
 * pub/sub; what is hand-written is only the bookkeeping between them.
 */
import { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { QUEUE_NAME, sweepIdOfJob, type JobStore } from '@featurevis/queue';

/** The longest a waiting request goes without reading the store again. */
export const RECHECK_MS = 1000;

interface Armed {
  /** Resolves at the first wake-up for the key after arming, or after `ms`, whichever comes first. */
  within(ms: number): Promise<void>;
  cancel(): void;
}

export class FinishWaiters {
  private readonly wakers = new Map<string, Set<() => void>>();
  private listening: Promise<{ close(): Promise<void> }> | null = null;
  private closed = false;

  /** `maxWaitS`: the longest a request waits (LONG_POLL_MAX_S); longer requested waits are cut to it. */
  constructor(private readonly redis: Redis, private readonly store: JobStore, private readonly prefix: string,
    private readonly maxWaitS: number, private readonly recheckMs = RECHECK_MS) {}

  /**
   * Reads with `read` until `finished` holds for what it returns, `requestedWaitS` seconds (at most
   * `maxWaitS`) have passed or the app closes; between reads, sleeps until an event about `key` (a job
   * or sweep id) or `recheckMs`. With a wait of 0, one read.
   */
  async readUntilFinished<T>(key: string, requestedWaitS: number, read: () => Promise<T>, finished: (value: T) => boolean): Promise<T> {
    const waitS = Math.min(requestedWaitS, this.maxWaitS);
    if (waitS <= 0 || this.closed) return read();
    await this.listen();
    const deadline = Date.now() + waitS * 1000;
    for (;;) {
      // Armed before the read: an event between the read and the sleep still wakes it.
      const armed = this.arm(key);
      let value: T;
      try {
        value = await read();
      } catch (error) {
        armed.cancel();
        throw error;
      }
      const left = deadline - Date.now();
      if (finished(value) || left <= 0 || this.closed) {
        armed.cancel();
        return value;
      }
      await armed.within(Math.min(left, this.recheckMs));
    }
  }

  /** Wakes every waiting request and closes the connections. */
  async close(): Promise<void> {
    this.closed = true;
    for (const set of this.wakers.values()) for (const wake of [...set]) wake();
    this.wakers.clear();
    if (this.listening) await (await this.listening.catch(() => null))?.close();
  }

  private listen(): Promise<unknown> {
    this.listening ??= (async () => {
      // QueueEvents blocks on its connection (XREAD BLOCK): one of its own, as BullMQ requires.
      const eventsConnection = this.redis.duplicate({ maxRetriesPerRequest: null });
      const events = new QueueEvents(QUEUE_NAME, { connection: eventsConnection, prefix: this.prefix });
      events.on('completed', ({ jobId }) => this.wake(jobId));
      events.on('failed', ({ jobId }) => this.wake(jobId));
      const subscriber = this.redis.duplicate();
      subscriber.on('message', (_channel: string, jobId: string) => this.wake(jobId));
      const close = async () => {
        await events.close();
        eventsConnection.disconnect();
        subscriber.disconnect();
      };
      try {
        await Promise.all([events.waitUntilReady(), subscriber.subscribe(this.store.keys.cancelChannel, this.store.keys.sweepDoneChannel)]);
      } catch (error) {
        await close().catch(() => {});
        this.listening = null; // the next waiting request tries again
        throw error;
      }
      return { close };
    })();
    return this.listening;
  }

  private wake(jobId: string): void {
    for (const key of [jobId, sweepIdOfJob(jobId)]) {
      const set = key == null ? undefined : this.wakers.get(key);
      if (set) for (const wake of [...set]) wake();
    }
  }

  private arm(key: string): Armed {
    let woken = false;
    let resolveSleep: (() => void) | null = null;
    const wake = () => {
      woken = true;
      resolveSleep?.();
    };
    const set = this.wakers.get(key) ?? new Set<() => void>();
    set.add(wake);
    this.wakers.set(key, set);
    const cancel = () => {
      set.delete(wake);
      if (set.size === 0 && this.wakers.get(key) === set) this.wakers.delete(key);
    };
    return {
      cancel,
      within: (ms) => new Promise<void>((resolve) => {
        if (woken) { cancel(); resolve(); return; }
        const timer = setTimeout(() => { cancel(); resolve(); }, ms);
        resolveSleep = () => { clearTimeout(timer); cancel(); resolve(); };
      }),
    };
  }
}
