/**
 * The job store: BullMQ holds each job (data, progress, attempts, outcome); this adds what BullMQ
 * lacks — idempotency keys that outlive job ids, cancellation that reaches any worker, a stable
 * newest-first index for cursor pagination, and sweeps with their counters.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Job, Queue, type JobsOptions, type JobState } from 'bullmq';
import type { Redis } from 'ioredis';
import type { JobStatus } from '@featurevis/contracts';
import { IdempotencyMismatchError, JobConflictError, JobNotFoundError } from './errors.ts';
import { batchKeyOf, type BatchKeyOptions } from './batch-key.ts';
import { keys, QUEUE_NAME, sweepJobId, type Keys } from './keys.ts';
import { CANCELED_BEFORE_START_REASON, isCanceledReason, type JobOutcome, type JobRecord, type JobSpec, type ProgressData, type QueuedJobData } from './records.ts';

export interface JobStoreOptions {
  redis: Redis;
  prefix: string;
  attempts: number;
  backoffMs: number;
  retentionS: number;
  idempotencyTtlS: number;
}

export interface SweepRecord {
  id: string;
  model: string;
  layer: string;
  start: number;
  end: number;
  total: number;
  createdAt: number;
  manifestKey: string;
  counts: Record<JobStatus, number>;
  status: JobStatus;
  /** Whether the worker has recorded writing the manifest (sweeps made before it recorded that: false). */
  manifestWritten: boolean;
}

export interface SweepInput { model: string; layer: string; start: number; end: number; spec: Omit<JobSpec, 'objective'>; manifestKey: (id: string) => string }

const BULK_CHUNK = 1000;
const BULK_IN_FLIGHT = 2;
const INDEX_PAD = 15;

const indexMember = (createdAt: number, id: string) => `${String(createdAt).padStart(INDEX_PAD, '0')}:${id}`;
const idOfMember = (member: string) => member.slice(INDEX_PAD + 1);
const bodyHash = (body: unknown) => createHash('sha256').update(JSON.stringify(body)).digest('hex');

/**
 * A job's BullMQ state as `Queue.getJobState` reports it, without its scan of the wait list: BullMQ's
 * getState script finds a waiting job with LPOS, which walks the list from its newest end, so a job
 * added before thousands of others (a sweep's first units) cost a walk over all of them: with ~20,000
 * jobs waiting, GET /v1/sweeps/:id?limit=100 answered 42–45 requests/s (140–155 with this; service
 * benchmark, two interleaved pairs), and a worker claiming a sweep's units walked the list per unit.
 * Every other place a job can be is a sorted set (ZSCORE) or the short active list; a job whose hash
 * exists and is in none of them is in the wait (or paused) list: 'waiting', as BullMQ would answer.
 * BullMQ's key names (`Queue.toKey`) and the job hash at `toKey(id)` are its public QueueBase API; the
 * places are those of BullMQ 6's getStateV2 script (packages/queue/test/job-state.test.ts compares).
 */
const JOB_STATE_SCRIPT = `
local id = ARGV[1]
if redis.call("ZSCORE", KEYS[1], id) then return "completed" end
if redis.call("ZSCORE", KEYS[2], id) then return "failed" end
if redis.call("ZSCORE", KEYS[3], id) then return "delayed" end
if redis.call("ZSCORE", KEYS[4], id) then return "prioritized" end
if redis.call("LPOS", KEYS[5], id) then return "active" end
if redis.call("ZSCORE", KEYS[6], id) then return "waiting-children" end
if redis.call("EXISTS", KEYS[7]) == 1 then return "waiting" end
return "unknown"
`;
const JOB_STATE_COMMAND = 'featurevisJobState';
type JobStateCommand = (...keysAndId: string[]) => Promise<JobState | 'unknown'>;

/**
 * JobStore.putResult: a run's result for a job it computed (a batched run's companion, or the
 * run's own job), unless that job was canceled meanwhile, and with it the job's final mark and, for a
 * sweep's unit, its counts (succeeded +1, running −1), in one step. KEYS: cancel flag, outcome, final
 * mark, sweep counts (or a key never written, for a job of its own). ARGV: the stored result, its
 * lifetime, whether a sweep's, the final mark (FinalMark: with the run's times, which outlive BullMQ's
 * hand-over). Returns 0 (canceled: nothing stored), 2 (stored and counted) or 1 (stored; the job was
 * final already, nothing counted).
 */
const PUT_BATCHED_OUTCOME_SCRIPT = `
if redis.call("EXISTS", KEYS[1]) == 1 then return 0 end
redis.call("SET", KEYS[2], ARGV[1], "EX", ARGV[2])
if not redis.call("SET", KEYS[3], ARGV[4], "EX", ARGV[2], "NX") then return 1 end
if ARGV[3] == "1" then
  redis.call("HINCRBY", KEYS[4], "succeeded", 1)
  redis.call("HINCRBY", KEYS[4], "running", -1)
end
return 2
`;
const PUT_BATCHED_OUTCOME_COMMAND = 'featurevisPutBatchedOutcome';
type PutBatchedOutcomeCommand = (cancelKey: string, outcomeKey: string, finalKey: string, countsKey: string, stored: string, ttlS: string, ofSweep: string, finalMark: string) => Promise<number>;

/**
 * A job's final mark (keys.final), set once by whoever records its end first: the status, and the
 * moment and details a client should see from then on, before BullMQ holds the job finished — a
 * succeeded run's times (a unit a batched run computed is handed over through BullMQ later, whose
 * processedOn/finishedOn are then the hand-over's), a failure's message. Stored as JSON; a bare
 * status (marks recorded before details were kept) reads as a mark without them.
 */
export interface FinalMark { status: 'succeeded' | 'failed' | 'canceled'; startedAt?: number | null; finishedAt?: number; error?: string }

export function parseFinalMark(raw: string | null | undefined): FinalMark | null {
  if (raw == null) return null;
  if (raw === 'succeeded' || raw === 'failed' || raw === 'canceled') return { status: raw };
  try {
    return JSON.parse(raw) as FinalMark;
  } catch {
    return null;
  }
}

/** When the run that made a job's result started, and when the result was stored (ms since the epoch). */
export interface RunTimes { startedAt: number | null; finishedAt: number }

/**
 * A succeeded run's times from its final mark, where its result was stored with them (putResult, which
 * knows the run's start); null for a mark that recordFinal set (a `compare` job, a result handed over
 * from an older worker): BullMQ's own times are the job's there.
 */
export function runTimesOf(mark: FinalMark | null): RunTimes | null {
  return mark?.status === 'succeeded' && typeof mark.startedAt === 'number' && typeof mark.finishedAt === 'number'
    ? { startedAt: mark.startedAt, finishedAt: mark.finishedAt } : null;
}

/**
 * JobStore.cancel's flag, unless a batched run has stored the job's result: the run checks the flag
 * when it stores (PUT_BATCHED_OUTCOME_SCRIPT), this checks the result when it flags, so a job is
 * either canceled or succeeded, never one and then the other. KEYS: cancel flag, outcome. ARGV: lifetime.
 */
const REQUEST_CANCEL_SCRIPT = `
if redis.call("EXISTS", KEYS[2]) == 1 then return 0 end
redis.call("SET", KEYS[1], "1", "EX", ARGV[1])
return 1
`;
const REQUEST_CANCEL_COMMAND = 'featurevisRequestCancel';
type RequestCancelCommand = (cancelKey: string, outcomeKey: string, ttlS: string) => Promise<number>;

/**
 * A result a batched run stored for a job it computed (JobStore.putResult), with when the run
 * started and when this job's files were written: the job is `succeeded` from then on, though it
 * waits in BullMQ until a worker hands the result over.
 */
export interface BatchedResult {
  outcome: JobOutcome;
  startedAt: number | null;
  finishedAt: number | null;
  /** Whether its final mark (and sweep count) went with it: false for a result stored bare, before they did. */
  recorded: boolean;
}

function parseBatchedResult(raw: string | null): BatchedResult | null {
  if (raw == null) return null;
  const parsed = JSON.parse(raw) as Omit<BatchedResult, 'recorded'> | JobOutcome;
  // Stored bare (the outcome alone) before the times and the final mark were kept with it.
  return 'outcome' in parsed ? { ...parsed, recorded: true } : { outcome: parsed, startedAt: null, finishedAt: null, recorded: false };
}

/** JobStore.recordFinal for a sweep's unit: the final mark, the status count and the running count at once. */
const RECORD_FINAL_SCRIPT = `
if not redis.call("SET", KEYS[1], ARGV[4], "EX", ARGV[2], "NX") then return 0 end
redis.call("HINCRBY", KEYS[2], ARGV[1], 1)
if tonumber(ARGV[3]) ~= 0 then redis.call("HINCRBY", KEYS[2], "running", ARGV[3]) end
return 1
`;
const RECORD_FINAL_COMMAND = 'featurevisRecordFinal';
type RecordFinalCommand = (finalKey: string, countsKey: string, status: string, ttlS: string, runningDelta: string, mark: string) => Promise<number>;

/** Whether a job (or sweep) with this status is done: succeeded, failed or canceled. */
export function isFinished(status: JobStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'canceled';
}

export function statusFromState(state: JobState | 'unknown', failedReason: string | undefined, cancelRequested: boolean): JobStatus {
  switch (state) {
    case 'completed': return 'succeeded';
    case 'failed': return isCanceledReason(failedReason) ? 'canceled' : 'failed';
    case 'active': return 'running';
    default: return cancelRequested ? 'canceled' : 'queued';
  }
}

export class JobStore {
  readonly queue: Queue<QueuedJobData, JobOutcome>;
  readonly keys: Keys;
  private readonly redis: Redis;

  constructor(private readonly options: JobStoreOptions) {
    this.redis = options.redis;
    this.keys = keys(options.prefix);
    this.queue = new Queue(QUEUE_NAME, { connection: options.redis, prefix: options.prefix });
    // ioredis sends these by EVALSHA, loading a script on a NOSCRIPT reply.
    this.redis.defineCommand(JOB_STATE_COMMAND, { numberOfKeys: 7, lua: JOB_STATE_SCRIPT });
    this.redis.defineCommand(RECORD_FINAL_COMMAND, { numberOfKeys: 2, lua: RECORD_FINAL_SCRIPT });
    this.redis.defineCommand(PUT_BATCHED_OUTCOME_COMMAND, { numberOfKeys: 4, lua: PUT_BATCHED_OUTCOME_SCRIPT });
    this.redis.defineCommand(REQUEST_CANCEL_COMMAND, { numberOfKeys: 2, lua: REQUEST_CANCEL_SCRIPT });
  }

  /** A script defined in the constructor, which ioredis adds to the client as a method. */
  private script<F extends (...args: string[]) => Promise<unknown>>(name: string): F {
    const client = this.redis as unknown as Record<string, F>;
    return ((...args: string[]) => client[name]!(...args)) as F;
  }

  /** `queue.getJobState(id)` in O(1) for a waiting job (JOB_STATE_SCRIPT). */
  jobState(id: string): Promise<JobState | 'unknown'> {
    const keysOf = ['completed', 'failed', 'delayed', 'prioritized', 'active', 'waiting-children', id].map((key) => this.queue.toKey(key));
    return this.script<JobStateCommand>(JOB_STATE_COMMAND)(...keysOf, id);
  }

  private jobOptions(id: string): JobsOptions {
    const age = this.options.retentionS;
    return {
      jobId: id,
      attempts: this.options.attempts,
      backoff: { type: 'exponential', delay: this.options.backoffMs },
      removeOnComplete: { age },
      removeOnFail: { age },
    };
  }

  /**
   * Queues one job. With an idempotency key, the same key and body return the job made the first
   * time (`replayed: true`); the same key with another body is an IdempotencyMismatchError. A job that
   * may share a batched run is also indexed under its compatibility key (batch-key.ts) while it waits.
   */
  async add(spec: JobSpec, idempotencyKey?: string, idempotentBody: unknown = spec, batching: BatchKeyOptions = {}): Promise<{ id: string; replayed: true } | { id: string; replayed: false; record: JobRecord }> {
    const id = `j-${randomUUID()}`;
    if (idempotencyKey) {
      const claimed = await this.claimIdempotencyKey(idempotencyKey, idempotentBody, id);
      if (claimed !== id) return { id: claimed, replayed: true };
    }
    const createdAt = Date.now();
    const batchKey = batchKeyOf(spec, batching);
    const data: QueuedJobData = { spec, sweepId: null, createdAt, ...(batchKey ? { batchKey } : {}) };
    // One round trip: the index entries and BullMQ's add are all sent before any answer is awaited
    // (on one connection, so in this order). Not one MULTI: an ioredis pipeline copies every script
    // BullMQ defines (64) when it is made, about 140 µs of CPU, more than a request's other Redis work.
    // The batch index entry goes first: a worker that takes the job finds it there to remove.
    this.coalesceWrites();
    try {
      await Promise.all([
        this.redis.zadd(this.keys.jobIndex, 0, indexMember(createdAt, id)),
        ...(batchKey ? [
          this.redis.zadd(this.keys.batchWaiting(batchKey), createdAt, id),
          this.redis.expire(this.keys.batchWaiting(batchKey), this.options.retentionS),
        ] : []),
        this.queue.add(QUEUE_NAME, data, this.jobOptions(id)),
      ]);
    } catch (err) {
      // The key must not stay bound to a job that was never queued: a retry with it would get a 404.
      if (idempotencyKey) await this.redis.del(this.keys.idempotency(idempotencyKey)).catch(() => {});
      if (batchKey) await this.redis.zrem(this.keys.batchWaiting(batchKey), id).catch(() => {});
      throw err;
    }
    // The job as it was just queued: what `get(id)` reads back for a waiting job, without the round trip.
    const record: JobRecord = {
      id, status: 'queued', data, attempts: 0, createdAt, startedAt: null, finishedAt: null, outcome: null, error: null,
      progress: { step: 0, steps: spec.steps ?? 0, objective: null },
    };
    return { id, replayed: false, record };
  }

  private corked = false;

  /**
   * Holds this connection's writes until the event loop's next turn, so the commands of all the
   * requests handled in this turn reach Redis in one socket write: on a busy machine a write to a
   * loopback socket costs more CPU (around 100 µs) than building the commands. Order is kept (the
   * socket's buffer), and nothing waits longer than one turn. What ioredis's `enableAutoPipelining`
   * does, without its pipeline object (which copies every BullMQ script, about 140 µs each).
   */
  private coalesceWrites(): void {
    const stream = this.redis.stream as { cork?: () => void; uncork?: () => void } | undefined;
    if (this.corked || !stream?.cork || !stream.uncork) return;
    stream.cork();
    this.corked = true;
    setImmediate(() => { this.corked = false; stream.uncork!(); });
  }

  /** Returns the id already bound to the key, or binds `id` to it. */
  private async claimIdempotencyKey(key: string, body: unknown, id: string): Promise<string> {
    const k = this.keys.idempotency(key);
    const hash = bodyHash(body);
    const set = await this.redis.set(k, JSON.stringify({ id, hash }), 'EX', this.options.idempotencyTtlS, 'NX');
    if (set === 'OK') return id;
    const existing = JSON.parse((await this.redis.get(k)) ?? '{}') as { id?: string; hash?: string };
    if (!existing.id) return this.claimIdempotencyKey(key, body, id); // expired between the two calls
    if (existing.hash !== hash) throw new IdempotencyMismatchError(key);
    return existing.id;
  }

  async get(id: string): Promise<JobRecord> {
    const record = (await this.getMany([id]))[0];
    if (!record) throw new JobNotFoundError(id);
    return record;
  }

  /** Records of the given ids in order; removed or unknown ids are left out. */
  async getMany(ids: string[]): Promise<JobRecord[]> {
    // The state is read before the job's hash: a job only moves forward, so a hash read afterwards is at
    // least as far along. (Read the other way round, a job completing in between showed `succeeded`
    // with the hash from before BullMQ stored its result: status succeeded, result null.)
    // Each stage's commands (several per job) go out in one socket write (coalesceWrites).
    this.coalesceWrites();
    const [states, cancels, claims, finalMarks] = await Promise.all([
      Promise.all(ids.map((id) => this.jobState(id))),
      ids.length ? this.redis.mget(ids.map((id) => this.keys.cancel(id))) : Promise.resolve([]),
      ids.length ? this.redis.mget(ids.map((id) => this.keys.batchClaim(id))) : Promise.resolve([]),
      ids.length ? this.redis.mget(ids.map((id) => this.keys.final(id))) : Promise.resolve([]),
    ]);
    this.coalesceWrites();
    const jobs = await Promise.all(ids.map((id) => Job.fromId<QueuedJobData, JobOutcome>(this.queue, id)));
    // A waiting job claimed by another job's batched run (services/worker/src/batch-runs.ts) runs in
    // it; one that such a run has computed has its result stored, and is done, until a worker hands
    // the result over (the run may still hold its claim for a moment).
    const claimedByOther = (i: number) => claims[i] != null && claims[i] !== ids[i];
    const waiting = (i: number) => statusFromState(states[i]!, undefined, cancels[i] != null) === 'queued';
    const leaderIds = [...new Set(ids.flatMap((_, i) => (waiting(i) && claimedByOther(i) ? [claims[i]!] : [])))];
    this.coalesceWrites();
    const [leaders, computed] = await Promise.all([
      Promise.all(leaderIds.map(async (id) => [id, await Job.fromId<QueuedJobData, JobOutcome>(this.queue, id)] as const)).then((pairs) => new Map(pairs)),
      // Waiting, or active: being handed over (a computed job is never run again).
      Promise.all(ids.map((id, i) => (waiting(i) || states[i] === 'active' ? this.batchedResult(id) : null))),
    ]);
    return jobs.flatMap((job, i) => job ? [toRecord(job, states[i]!, cancels[i] != null, {
      leader: claimedByOther(i) ? leaders.get(claims[i]!) : undefined, computed: computed[i] ?? null, mark: parseFinalMark(finalMarks[i]),
    })] : []);
  }

  /**
   * Newest first. The cursor is the index member of the last job returned, so pages stay stable while
   * new jobs arrive. With a status filter, at most `scanLimit` index entries are read per call; the
   * cursor then points past what was scanned, and a page may hold fewer than `limit` jobs.
   */
  async list(params: { status?: JobStatus; limit: number; cursor?: string; scanLimit?: number }): Promise<{ jobs: JobRecord[]; nextCursor: string | null }> {
    await this.redis.zremrangebylex(this.keys.jobIndex, '-', `(${indexMember(Date.now() - this.options.retentionS * 1000, '')}`);
    const { status, limit } = params;
    const scanLimit = params.scanLimit ?? Math.max(limit * 10, 1000);
    const out: JobRecord[] = [];
    let max = params.cursor ? `(${params.cursor}` : '+';
    let scanned = 0;
    let lastMember: string | null = null;
    let exhausted = false;
    while (out.length < limit && scanned < scanLimit) {
      const want = Math.min(status ? 500 : limit - out.length, scanLimit - scanned);
      const members = await this.redis.zrevrangebylex(this.keys.jobIndex, max, '-', 'LIMIT', 0, want);
      if (members.length === 0) { exhausted = true; break; }
      scanned += members.length;
      const byId = new Map((await this.getMany(members.map(idOfMember))).map((r) => [r.id, r]));
      for (const member of members) {
        lastMember = member;
        const record = byId.get(idOfMember(member));
        if (record && (!status || record.status === status)) out.push(record);
        if (out.length === limit) break;
      }
      max = `(${lastMember}`;
      if (members.length < want && lastMember === members[members.length - 1]) { exhausted = true; break; }
    }
    if (exhausted || !lastMember) return { jobs: out, nextCursor: null };
    const more = await this.redis.zrevrangebylex(this.keys.jobIndex, `(${lastMember}`, '-', 'LIMIT', 0, 1);
    return { jobs: out, nextCursor: more.length ? lastMember : null };
  }

  /**
   * Cancels a job: a queued job will never run (a worker that picks it up drops it), a running job is
   * told through pub/sub and stops between optimisation steps. Finished jobs are a JobConflictError.
   */
  async cancel(id: string): Promise<JobRecord> {
    const before = await this.get(id);
    if (isFinished(before.status)) {
      throw new JobConflictError(`job "${id}" is already ${before.status}`);
    }
    const flagged = await this.script<RequestCancelCommand>(REQUEST_CANCEL_COMMAND)(this.keys.cancel(id), this.keys.batchOutcome(id), String(this.options.retentionS));
    // A batched run stored its result since the read above: it has succeeded.
    if (flagged === 0) throw new JobConflictError(`job "${id}" is already succeeded`);
    await this.redis.publish(this.keys.cancelChannel, id);
    await this.leaveBatchIndex(id, before.data);
    if (before.status === 'queued') await this.recordFinal(id, before.data.sweepId, 'canceled');
    return this.get(id);
  }

  /** Tells whoever waits on a job or sweep (the API's long polls) that it has finished: see keys.finishedChannel. */
  async announceFinished(id: string): Promise<void> {
    await this.redis.publish(this.keys.finishedChannel, id);
  }

  async isCancelRequested(id: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.cancel(id))) === 1;
  }

  /**
   * Records a job's final outcome once; only the first caller counts it in its sweep, and moves the
   * sweep's running count by `runningDelta` (a unit a batched run computed, counted running until
   * handed over: −1), in the same atomic step: a worker that dies between the two can no longer leave
   * the count behind. Returns whether this call was the first.
   */
  async recordFinal(id: string, sweepId: string | null, status: 'succeeded' | 'failed' | 'canceled', runningDelta = 0, details: { error?: string } = {}): Promise<boolean> {
    // The mark carries what the job's view shows until BullMQ holds it finished (toRecord).
    const mark = JSON.stringify({ status, finishedAt: Date.now(), ...(details.error !== undefined ? { error: details.error } : {}) } satisfies FinalMark);
    if (!sweepId) return (await this.redis.set(this.keys.final(id), mark, 'EX', this.options.retentionS, 'NX')) === 'OK';
    const first = await this.script<RecordFinalCommand>(RECORD_FINAL_COMMAND)(
      this.keys.final(id), this.keys.sweepCounts(sweepId), status, String(this.options.retentionS), String(runningDelta), mark);
    return first === 1;
  }

  /** Counts `delta` more (or fewer) of a sweep's units as running (a unit's own run, or a batched run's units). */
  async markSweepRunning(sweepId: string, delta: number): Promise<void> {
    await this.redis.hincrby(this.keys.sweepCounts(sweepId), 'running', delta);
  }

  // ---- batched runs: sweep units and compatible jobs (see services/worker/src/batch-runs.ts) ----

  /**
   * Takes a job for the worker that BullMQ handed it to: its claim key is set to its own id unless a
   * batched run holds it already. Returns the holder: the job's own id (this worker runs it; also when
   * an earlier attempt of it held the claim) or the leader's.
   */
  async claimOwn(id: string, ttlS: number): Promise<string> {
    const set = await this.redis.set(this.keys.batchClaim(id), id, 'EX', ttlS, 'NX');
    if (set === 'OK') return id;
    return (await this.redis.get(this.keys.batchClaim(id))) ?? this.claimOwn(id, ttlS); // expired between the two calls
  }

  /**
   * What the worker BullMQ handed job `id` to reads first, in one round trip: whether a cancel was
   * requested and the outcome a batched run stored for it (if any); the job leaves the index of
   * waiting jobs that may share a run at the same time. A computed job is handed over with this read
   * alone (its final record went with its result).
   */
  async onTaking(id: string, data: Pick<QueuedJobData, 'batchKey'>): Promise<{ cancelRequested: boolean; computed: BatchedResult | null }> {
    this.coalesceWrites();
    const [, cancelRequested, computed] = await Promise.all([this.leaveBatchIndex(id, data), this.isCancelRequested(id), this.batchedResult(id)]);
    return { cancelRequested, computed };
  }

  /** Takes a job out of the index of waiting jobs that may share a run (taken, claimed or canceled). */
  async leaveBatchIndex(id: string, data: Pick<QueuedJobData, 'batchKey'>): Promise<void> {
    if (data.batchKey) await this.redis.zrem(this.keys.batchWaiting(data.batchKey), id);
  }

  /**
   * Claims up to `max` waiting, uncanceled jobs not computed already with the compatibility key
   * `batchKey`, oldest first, for a batched run led by `leaderId`. Only jobs already waiting: no job
   * is held back for companions. A window of the index at a time, each in a few round trips (as
   * claimSweepUnits), not six per job.
   */
  async claimCompatibleJobs(batchKey: string, max: number, leaderId: string, ttlS: number): Promise<Array<{ id: string; spec: JobSpec }>> {
    const claimed: Array<{ id: string; spec: JobSpec }> = [];
    const index = this.keys.batchWaiting(batchKey);
    while (claimed.length < max) {
      const ids = await this.redis.zrange(index, 0, String(max - claimed.length + 7));
      if (ids.length === 0) break;
      const flags = await this.claimFlags(ids);
      // The jobs this run will try (as many as it still needs), and the entries of jobs no run can take
      // any more (taken, canceled, computed; the leader's own: its worker removes it on taking it, and
      // were it left this loop would read it again forever); eligible ones beyond the need stay indexed.
      const eligible = (i: number) => ids[i] !== leaderId && flags[i]!.waiting && !flags[i]!.canceled && !flags[i]!.computed;
      const wanted = ids.filter((_, i) => eligible(i)).slice(0, max - claimed.length);
      const dropped = ids.filter((_, i) => !eligible(i));
      // Whoever removes an entry considers the job; a job another worker took is skipped by its claim.
      this.coalesceWrites();
      const removed = await Promise.all([...wanted, ...dropped].map((id) => this.redis.zrem(index, id)));
      const held = await this.setClaims(wanted.filter((_, i) => removed[i] === 1), leaderId, ttlS);
      this.coalesceWrites();
      const jobs = await Promise.all(held.map((id) => Job.fromId<QueuedJobData, JobOutcome>(this.queue, id)));
      const gone = held.filter((_, i) => !jobs[i]);
      if (gone.length) await this.releaseClaims(gone);
      for (const job of jobs) if (job) claimed.push({ id: job.id!, spec: job.data.spec });
    }
    return claimed;
  }

  /**
   * Claims up to `max` units of a sweep after `channel` that are still waiting in the queue, not
   * canceled, not computed already and not held by another run, for a batched run led by `leaderId`.
   * A claim expires after `ttlS` unless renewed.
   *
   * The units are read a window at a time, each window in two round trips (their states and flags;
   * then the claims), not four per unit: one after another, a 63-unit claim took ≈ 40 ms of Redis
   * round trips before the batched run could start. The claim itself (SET NX) decides between
   * workers, as before: a unit another worker takes between the two reads is either claimed by that
   * worker first (ours fails and is skipped) or held by this run (that worker waits for its outcome).
   */
  async claimSweepUnits(sweepId: string, channel: number, end: number, max: number, leaderId: string, ttlS: number): Promise<Array<{ id: string; channel: number }>> {
    const claimed: Array<{ id: string; channel: number }> = [];
    for (let from = channel + 1; from < end && claimed.length < max;) {
      const to = Math.min(end, from + (max - claimed.length));
      const units = Array.from({ length: to - from }, (_, i) => ({ id: sweepJobId(sweepId, from + i), channel: from + i }));
      from = to;
      const flags = await this.claimFlags(units.map(({ id }) => id));
      const free = units.filter((_, i) => flags[i]!.waiting && !flags[i]!.canceled && !flags[i]!.held && !flags[i]!.computed);
      const held = new Set(await this.setClaims(free.map(({ id }) => id), leaderId, ttlS));
      claimed.push(...free.filter(({ id }) => held.has(id)));
    }
    return claimed;
  }

  /** What decides whether a batched run may claim these jobs, read in one round trip (one socket write). */
  private async claimFlags(ids: string[]): Promise<Array<{ waiting: boolean; canceled: boolean; held: boolean; computed: boolean }>> {
    this.coalesceWrites();
    const [states, cancels, holders, computed] = await Promise.all([
      Promise.all(ids.map((id) => this.jobState(id))),
      this.redis.mget(ids.map((id) => this.keys.cancel(id))),
      this.redis.mget(ids.map((id) => this.keys.batchClaim(id))),
      Promise.all(ids.map((id) => this.hasBatchedOutcome(id))),
    ]);
    return ids.map((_, i) => ({ waiting: states[i] === 'waiting', canceled: cancels[i] != null, held: holders[i] != null, computed: computed[i]! }));
  }

  /** Claims these jobs for `leaderId`'s run where nobody holds them (SET NX, one socket write); returns those it got. */
  private async setClaims(ids: string[], leaderId: string, ttlS: number): Promise<string[]> {
    this.coalesceWrites();
    const sets = await Promise.all(ids.map((id) => this.redis.set(this.keys.batchClaim(id), leaderId, 'EX', ttlS, 'NX')));
    return ids.filter((_, i) => sets[i] === 'OK');
  }

  async renewClaims(ids: string[], ttlS: number): Promise<void> {
    if (ids.length === 0) return;
    const multi = this.redis.multi();
    for (const id of ids) multi.expire(this.keys.batchClaim(id), ttlS);
    await multi.exec();
  }

  /** Gives units back: they run on their own when a worker takes them. */
  async releaseClaims(ids: string[]): Promise<void> {
    if (ids.length) await this.redis.del(...ids.map((id) => this.keys.batchClaim(id)));
  }

  /**
   * Stores a run's result for a job it computed — a batched run's companion, left for the job's own
   * worker to hand over through BullMQ, or the run's own job, whose processor is about to return it —
   * unless the job was canceled meanwhile (checked and set in one script with the cancel's
   * REQUEST_CANCEL_SCRIPT: a job is canceled first, and nothing is stored, or succeeds first, and the
   * cancel is refused). The job is final from here on: it reads `succeeded` with this result, its final
   * mark is set and, for a sweep's unit, its sweep counts it succeeded, not running; BullMQ's later
   * completion changes none of it, so a sweep whose counts are final never shows a unit without its
   * result. 'counted': stored, marked and counted; 'stored': it was final already (nothing counted);
   * 'canceled': a cancel came first, nothing stored.
   */
  putResult(id: string, outcome: JobOutcome, context: { sweepId?: string | null; startedAt?: number; finishedAt?: number } = {}): Promise<'counted' | 'stored' | 'canceled'> {
    const stored: Omit<BatchedResult, 'recorded'> = { outcome, startedAt: context.startedAt ?? null, finishedAt: context.finishedAt ?? Date.now() };
    return this.script<PutBatchedOutcomeCommand>(PUT_BATCHED_OUTCOME_COMMAND)(
      this.keys.cancel(id), this.keys.batchOutcome(id), this.keys.final(id),
      context.sweepId ? this.keys.sweepCounts(context.sweepId) : this.keys.sweepCounts(''),
      JSON.stringify(stored), String(this.options.retentionS), context.sweepId ? '1' : '0',
      JSON.stringify({ status: 'succeeded', startedAt: stored.startedAt, finishedAt: stored.finishedAt ?? Date.now() } satisfies FinalMark),
    ).then((result) => (result === 2 ? 'counted' : result === 1 ? 'stored' : 'canceled'));
  }

  /** The times of the run that made `id`'s result, where it was stored with them (runTimesOf). */
  async runTimes(id: string): Promise<RunTimes | null> {
    return runTimesOf(parseFinalMark(await this.redis.get(this.keys.final(id))));
  }

  /** Whether a batched run has stored `id`'s outcome (a retried leader does not compute it again). */
  private async hasBatchedOutcome(id: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.batchOutcome(id))) === 1;
  }

  /** The outcome a batched run stored for `id`, if any. */
  async batchedOutcome(id: string): Promise<JobOutcome | null> {
    return (await this.batchedResult(id))?.outcome ?? null;
  }

  private async batchedResult(id: string): Promise<BatchedResult | null> {
    return parseBatchedResult(await this.redis.get(this.keys.batchOutcome(id)));
  }

  // ---- sweeps ----

  /** Creates one job per channel in [start, end), in bulk. */
  async addSweep(input: SweepInput, idempotencyKey?: string, idempotentBody?: unknown): Promise<{ id: string; replayed: true } | { id: string; replayed: false; sweep: SweepRecord }> {
    const id = `s-${randomUUID()}`;
    if (idempotencyKey) {
      const claimed = await this.claimIdempotencyKey(idempotencyKey, idempotentBody ?? input, id);
      if (claimed !== id) return { id: claimed, replayed: true };
    }
    const createdAt = Date.now();
    const total = input.end - input.start;
    const ttl = this.options.retentionS + 86400;
    await this.redis.multi()
      .hset(this.keys.sweep(id), { model: input.model, layer: input.layer, start: input.start, end: input.end, total, createdAt, manifestKey: input.manifestKey(id) })
      .hset(this.keys.sweepCounts(id), { running: 0, succeeded: 0, failed: 0, canceled: 0 })
      .expire(this.keys.sweep(id), ttl)
      .expire(this.keys.sweepCounts(id), ttl)
      .exec();
    // Chunks go out two at a time: BullMQ builds the next chunk's commands while Redis runs the
    // previous chunk's add scripts (an overlap that pays where Redis has its own cores), without
    // holding every unit's commands in memory at once. The caller hears back only when every chunk
    // has settled: a sweep is accepted once all its jobs are in Redis, and a failed chunk fails it.
    const inFlight = new Set<Promise<void>>();
    let failure: { reason: unknown } | null = null;
    for (let from = input.start; from < input.end && !failure; from += BULK_CHUNK) {
      const to = Math.min(input.end, from + BULK_CHUNK);
      const channels = Array.from({ length: to - from }, (_, i) => from + i);
      const index: (string | number)[] = [];
      for (const c of channels) index.push(0, indexMember(createdAt, sweepJobId(id, c)));
      const chunk: Promise<void> = Promise.all([
        this.redis.zadd(this.keys.jobIndex, ...index),
        this.queue.addBulk(channels.map((channel) => ({
          name: QUEUE_NAME,
          data: { spec: { ...input.spec, objective: { type: 'channel', layer: input.layer, channel } } as JobSpec, sweepId: id, createdAt },
          opts: this.jobOptions(sweepJobId(id, channel)),
        }))),
      ]).then(() => {}, (reason: unknown) => { failure ??= { reason }; }).finally(() => { inFlight.delete(chunk); });
      inFlight.add(chunk);
      if (inFlight.size >= BULK_IN_FLIGHT) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    if (failure) {
      // The client hears an error and never learns the sweep's id: take back what was added, so no unit
      // runs for a sweep nobody asked for, and free the Idempotency-Key for a retry. Best effort: if
      // Redis itself is failing, this may fail too.
      await this.discardSweep(id, input.start, input.end, createdAt, idempotencyKey).catch(() => {});
      throw (failure as { reason: unknown }).reason;
    }
    // The sweep as just created: what `getSweep(id)` reads back before any unit has run.
    const sweep: SweepRecord = {
      id, model: input.model, layer: input.layer, start: input.start, end: input.end, total, createdAt, manifestKey: input.manifestKey(id),
      counts: { queued: total, running: 0, succeeded: 0, failed: 0, canceled: 0 }, status: 'queued', manifestWritten: false,
    };
    return { id, replayed: false, sweep };
  }

  private async discardSweep(id: string, start: number, end: number, createdAt: number, idempotencyKey?: string): Promise<void> {
    for (let from = start; from < end; from += BULK_CHUNK) {
      const ids = Array.from({ length: Math.min(end, from + BULK_CHUNK) - from }, (_, i) => sweepJobId(id, from + i));
      await Promise.all(ids.map((jobId) => this.queue.remove(jobId)));
      await this.redis.zrem(this.keys.jobIndex, ...ids.map((jobId) => indexMember(createdAt, jobId)));
    }
    await this.redis.del(this.keys.sweep(id), this.keys.sweepCounts(id), ...(idempotencyKey ? [this.keys.idempotency(idempotencyKey)] : []));
  }

  async getSweep(id: string): Promise<SweepRecord> {
    this.coalesceWrites();
    const [sweep, counts] = await Promise.all([this.redis.hgetall(this.keys.sweep(id)), this.redis.hgetall(this.keys.sweepCounts(id))]);
    if (!sweep.model) throw new JobNotFoundError(id, 'sweep');
    const total = Number(sweep.total);
    const n = (k: string) => Math.max(0, Number(counts[k] ?? 0));
    const finished = n('succeeded') + n('failed') + n('canceled');
    const running = Math.min(n('running'), total - finished);
    const c: Record<JobStatus, number> = { queued: Math.max(0, total - finished - running), running, succeeded: n('succeeded'), failed: n('failed'), canceled: n('canceled') };
    const status: JobStatus = finished === total
      ? (c.failed > 0 ? 'failed' : c.canceled > 0 ? 'canceled' : 'succeeded')
      : (running > 0 || finished > 0 ? 'running' : 'queued');
    return {
      id, model: sweep.model, layer: sweep.layer!, start: Number(sweep.start), end: Number(sweep.end), total, createdAt: Number(sweep.createdAt),
      manifestKey: sweep.manifestKey!, counts: c, status, manifestWritten: sweep.manifestWritten === '1',
    };
  }

  /** Records that the sweep's (final) manifest is in storage, so that nobody need ask storage again. */
  async markManifestWritten(id: string): Promise<void> {
    await this.redis.hset(this.keys.sweep(id), 'manifestWritten', '1');
  }

  /** A page of a sweep's jobs in channel order; the cursor is the next channel. */
  async sweepJobs(sweep: SweepRecord, limit: number, cursor?: string): Promise<{ jobs: JobRecord[]; nextCursor: string | null }> {
    const from = cursor ? Number(cursor) : sweep.start;
    if (!Number.isInteger(from) || from < sweep.start) throw new JobConflictError('cursor: not a cursor of this sweep');
    const to = Math.min(sweep.end, from + limit);
    const ids = Array.from({ length: Math.max(0, to - from) }, (_, i) => sweepJobId(sweep.id, from + i));
    return { jobs: await this.getMany(ids), nextCursor: to < sweep.end ? String(to) : null };
  }

  async counts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed');
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

/**
 * `batch.leader`: the job whose batched run holds this one's claim, if another's (a leader releases
 * its claims when its run ends; a dead leader's expire): a job waiting in BullMQ so is `running`, with
 * the leader's start and step (the batch shares its step count), so that a client never sees it go back
 * from running to queued; a cancel still reads `canceled` at once. `batch.computed`: the result such a
 * run stored for this job: it is `succeeded`, with that result, though it waits in BullMQ until a worker
 * hands the result over, and is active there while that worker does (neither changes what a client
 * sees: a computed job is never run again).
 */
function toRecord(job: Job<QueuedJobData, JobOutcome>, state: JobState | 'unknown', cancelRequested: boolean,
  batch: { leader?: Job<QueuedJobData, JobOutcome>; computed?: BatchedResult | null; mark?: FinalMark | null } = {}): JobRecord {
  const ownStatus = statusFromState(state, job.failedReason, cancelRequested);
  const notFinalInBullMq = ownStatus === 'queued' || ownStatus === 'running';
  // Computed: waiting in BullMQ, or active there while a worker hands the result over.
  const computed = notFinalInBullMq ? batch.computed ?? null : null;
  // Recorded failed or canceled by its worker a moment before BullMQ moves it (its sweep counts it so).
  const ended = notFinalInBullMq && computed == null && (batch.mark?.status === 'failed' || batch.mark?.status === 'canceled') ? batch.mark : null;
  const runningIn = ownStatus === 'queued' && computed == null && ended == null ? batch.leader : undefined;
  const status: JobStatus = computed ? 'succeeded' : ended ? ended.status : runningIn ? 'running' : ownStatus;
  const runTimes = status === 'succeeded' ? runTimesOf(batch.mark ?? null) : null;
  const reported = (runningIn ?? job).progress;
  const progress = (typeof reported === 'object' && reported ? reported : {}) as Partial<ProgressData>;
  const steps = job.data.spec.steps ?? 0;
  const computedObjective = computed?.outcome.metrics.objective;
  return {
    id: job.id!,
    status,
    data: job.data,
    // In a leader's run, the objective reported is the batch's, not this job's: none. Computed: its own.
    progress: computed
      ? { step: steps, steps, objective: typeof computedObjective === 'number' ? computedObjective : null }
      : { step: progress.step ?? (status === 'succeeded' ? steps : 0), steps: progress.steps ?? steps, objective: runningIn ? null : progress.objective ?? null },
    // BullMQ counts an attempt when it moves the job to completed or failed: a job already computed or
    // ended by its worker counts the attempt that did so before BullMQ has it (else a client could
    // read `succeeded` with 0 attempts for a moment).
    attempts: job.attemptsMade + (computed != null || ended != null ? 1 : 0),
    createdAt: job.data.createdAt ?? job.timestamp,
    // A succeeded job whose result was stored with its run's times keeps them once BullMQ has it
    // (for a unit handed over, BullMQ's times are the hand-over's).
    startedAt: computed ? computed.startedAt : runTimes ? runTimes.startedAt
      : runningIn ? runningIn.processedOn ?? null : job.failedReason === CANCELED_BEFORE_START_REASON ? null : job.processedOn ?? null,
    finishedAt: computed ? computed.finishedAt : runTimes ? runTimes.finishedAt : ended ? ended.finishedAt ?? null
      : status === 'succeeded' || status === 'failed' || (status === 'canceled' && job.finishedOn) ? job.finishedOn ?? null : null,
    outcome: computed ? computed.outcome : status === 'succeeded' ? job.returnvalue ?? null : null,
    error: status === 'failed' ? (ended ? ended.error : job.failedReason) ?? 'failed' : null,
  };
}
