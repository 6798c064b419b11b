/**
 * A sweep's manifest.json in storage, with every unit's outcome: written once, by the worker's completion
 * event that first finds every unit final (in BullMQ, or, for a unit a batched run computed, with its
 * result stored; the API writes none).
 */
import { isFinished, type JobStore, type SweepRecord } from './job-store.ts';

const PAGE = 500;

export interface ManifestWriter {
  put(key: string, body: string, options?: { contentType?: string }): Promise<void>;
  exists(key: string): Promise<boolean>;
}

/**
 * Whether a sweep's manifest is in storage: only a finished sweep has one (only complete manifests are
 * written); the sweep records its writing, and storage is asked only for sweeps from before it did.
 */
export async function sweepManifestWritten(sweep: SweepRecord, storage: Pick<ManifestWriter, 'exists'>): Promise<boolean> {
  return isFinished(sweep.status) && (sweep.manifestWritten || await storage.exists(sweep.manifestKey));
}

export async function writeSweepManifestIfComplete(store: JobStore, storage: ManifestWriter, sweepId: string, log?: { info(o: object, m: string): void }): Promise<boolean> {
  const sweep = await store.getSweep(sweepId);
  if (sweep.counts.queued + sweep.counts.running > 0) return false;
  // Only complete manifests are written, so one that exists is final: the completion events of a last
  // batch's other units (handed over after it was written) need not read the whole sweep again, nor
  // ask storage (a HEAD each, on S3) where the sweep records it.
  if (await sweepManifestWritten(sweep, storage)) return false;
  const units = [];
  for (let cursor: string | null = String(sweep.start); cursor !== null;) {
    const page = await store.sweepJobs(sweep, PAGE, cursor);
    for (const job of page.jobs) {
      // A succeeded unit is counted with its stored result; a failed or canceled one records its end a
      // moment before BullMQ moves it: a unit not yet final here means another completion event will
      // write the manifest.
      if (!isFinished(job.status)) return false;
      const objective = job.data.spec.objective as { channel?: number };
      units.push({
        channel: objective.channel,
        jobId: job.id,
        status: job.status,
        images: job.outcome?.images.map((i) => i.key) ?? [],
        metadata: job.outcome?.metadata.key ?? null,
        objective: job.outcome?.metrics.objective ?? null,
        error: job.error,
      });
    }
    cursor = page.nextCursor;
  }
  await storage.put(sweep.manifestKey, JSON.stringify({
    id: sweep.id, status: sweep.status, model: sweep.model, layer: sweep.layer,
    channels: { start: sweep.start, end: sweep.end }, total: sweep.total, counts: sweep.counts,
    createdAt: new Date(sweep.createdAt).toISOString(), finishedAt: new Date().toISOString(), units,
  }, null, 2), { contentType: 'application/json' });
  await store.markManifestWritten(sweepId);
  await store.announceFinished(sweepId);
  log?.info({ sweepId, units: units.length, status: sweep.status }, 'sweep finished; manifest written');
  return true;
}
