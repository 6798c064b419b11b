/**
 * Long polling: `GET /v1/jobs/{id}?wait=S` and `GET /v1/sweeps/{id}?wait=S` answer as soon as the job
 * or sweep has finished, or after S seconds with its status as it is then. A client that waits for a
 * result this way learns of it at once, and costs the service one request instead of one every few
 * hundred milliseconds (a poll is a few Redis round trips and a view; on a machine the workers share,
 * frequent polling slowed a batched run measurably: bench/README.md).
 *
 * Woken by announcements on Redis pub/sub: the worker publishes a job's id on the finished channel once
 * BullMQ holds the job finished (its `completed` and `failed` events) and a sweep's id once its manifest
 * is written (a sweep is answered once it is, so the answer carries the manifest's URL); the API
 * publishes a canceled job's id on the cancel channel (a queued job is canceled without a worker). A
 * sweep's unit wakes no sweep waiter: a sweep is answered once its manifest is written, which only its
 * own announcement says (a 64-unit batch's units each made every waiting sweep request read the sweep
 * again, for nothing). A wake-up only says "read again": the route reads
 * the store, which stays the one source of truth. Pub/sub delivers only to those listening, so an
 * announcement can be missed (made before the subscription was ready, while the connection was down,
 * or by a worker that died first): a waiting request reads again at least every RECHECK_MS.
 *
 * The subscriber connection is opened on the first request that waits, so an API nobody long-polls
 * opens none. Closing the app wakes every waiting request first (each answers with its status as it is).
 *
 * Why not a library or BullMQ's QueueEvents: the waiting is a map of wake-up callbacks over ioredis's
 * pub/sub; QueueEvents (a blocking stream reader) would add a connection, and its close waits for a
 * connection that an unreachable Redis never gives (measured: the process stayed up after closing).
 */
import type { Redis } from 'ioredis';
import type { JobStore } from '@featurevis/queue';

/** The longest a waiting request goes without reading the store again (LONG_POLL_RECHECK_MS's default). */
export const RECHECK_MS = 1000;

interface Armed {
  /** Resolves at the first wake-up for the key after arming, or after `ms`, whichever comes first. */
  within(ms: number): Promise<void>;
  cancel(): void;
}

export class FinishWaiters {
  private readonly wakers = new Map<string, Set<() => void>>();
  private listening: Promise<void> | null = null;
  private subscriber: Redis | null = null;
  private closed = false;

  /** `maxWaitS`: the longest a request waits (LONG_POLL_MAX_S); longer requested waits are cut to it. */
  constructor(private readonly redis: Redis, private readonly store: JobStore,
    private readonly maxWaitS: number, private readonly recheckMs = RECHECK_MS) {}

  /** Requests waiting now (each holds one wake-up callback while it waits). */
  get waiting(): number {
    let count = 0;
    for (const set of this.wakers.values()) count += set.size;
    return count;
  }

  /**
   * Reads with `read` until `finished` holds for what it returns, `requestedWaitS` seconds (at most
   * `maxWaitS`) have passed or the app closes; between reads, sleeps until an event about `key` (a job
   * or sweep id) or `recheckMs`. With a wait of 0, one read.
   */
  async readUntilFinished<T>(key: string, requestedWaitS: number, read: () => Promise<T>, finished: (value: T) => boolean): Promise<T> {
    const waitS = Math.min(requestedWaitS, this.maxWaitS);
    if (waitS <= 0 || this.closed) return read();
    const deadline = Date.now() + waitS * 1000;
    // Listening first, so that no announcement after the first read is missed; but for no longer than
    // one re-check (a Redis that does not answer would hold the request): without the subscription
    // the reads go on every `recheckMs`.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.listen().catch(() => {}),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, Math.min(waitS * 1000, this.recheckMs)); }),
    ]).finally(() => clearTimeout(timer));
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

  /** Wakes every waiting request and closes the subscriber. */
  async close(): Promise<void> {
    this.closed = true;
    for (const set of this.wakers.values()) for (const wake of [...set]) wake();
    this.wakers.clear();
    this.disconnect();
  }

  /** Subscribes once; resolves when the subscriber listens (rejects, and lets a later call retry, if it cannot). */
  private listen(): Promise<void> {
    if (this.listening) return this.listening;
    const subscriber = this.redis.duplicate();
    // Connection errors (Redis restarting): the reads report them; waiting requests re-read every
    // `recheckMs` until the subscriber is back (ioredis reconnects and subscribes again).
    subscriber.on('error', () => {});
    subscriber.on('message', (_channel: string, id: string) => this.wake(id));
    this.subscriber = subscriber;
    this.listening = subscriber.subscribe(this.store.keys.cancelChannel, this.store.keys.finishedChannel)
      .then(() => {}, (error: unknown) => {
        this.disconnect();
        this.listening = null;
        throw error;
      });
    return this.listening;
  }

  private disconnect(): void {
    this.subscriber?.disconnect();
    this.subscriber = null;
  }

  /** Wakes the waiters of `id` (a job or a sweep). */
  private wake(id: string): void {
    const set = this.wakers.get(id);
    if (set) for (const wake of [...set]) wake();
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
