/** From the store's records to the public views, with URLs the client can fetch. */
import type { JobView, SweepView } from '@featurevis/contracts';
import { sweepManifestWritten, type JobRecord, type StoredImage, type SweepRecord } from '@featurevis/queue';
import type { Storage } from '@featurevis/storage';

const iso = (ms: number | null) => (ms == null ? null : new Date(ms).toISOString());

export async function jobView(record: JobRecord, storage: Storage): Promise<JobView> {
  const outcome = record.outcome;
  const stored = async (key: string) => ({ key, url: await storage.url(key) });
  const imageRef = async (img: StoredImage) => ({ ...(await stored(img.key)), width: img.width, height: img.height, index: img.index, ...(img.model ? { model: img.model } : {}) });
  return {
    id: record.id,
    status: record.status,
    model: record.data.spec.model,
    objective: record.data.spec.objective,
    spec: record.data.spec as unknown as Record<string, unknown>,
    sweepId: record.data.sweepId,
    progress: record.progress,
    attempts: record.attempts,
    createdAt: iso(record.createdAt)!,
    startedAt: iso(record.startedAt),
    finishedAt: iso(record.finishedAt),
    result: outcome
      ? {
          images: await Promise.all(outcome.images.map(imageRef)),
          ...(outcome.examples?.length
            ? { examples: await Promise.all(outcome.examples.map(async (example) => ({ ...example, ...(await stored(example.key)) }))) }
            : {}),
          ...(outcome.attributions?.length ? { attributions: await Promise.all(outcome.attributions.map(imageRef)) } : {}),
          ...(outcome.filmstrip ? { filmstrip: await stored(outcome.filmstrip.key) } : {}),
          metadata: await stored(outcome.metadata.key),
          metrics: outcome.metrics,
        }
      : null,
    error: record.error ? { message: record.error } : null,
  };
}

/** `manifestWritten`: whether the sweep's manifest exists, where the caller has just checked (else sweepManifestWritten). */
export async function sweepView(sweep: SweepRecord, page: { jobs: JobRecord[]; nextCursor: string | null }, storage: Storage, manifestWritten?: boolean): Promise<SweepView> {
  return {
    id: sweep.id,
    status: sweep.status,
    model: sweep.model,
    layer: sweep.layer,
    channels: { start: sweep.start, end: sweep.end },
    total: sweep.total,
    counts: sweep.counts,
    createdAt: iso(sweep.createdAt)!,
    // Written by the worker just after the last unit finishes: shown once it is there.
    manifest: (manifestWritten ?? await sweepManifestWritten(sweep, storage))
      ? { key: sweep.manifestKey, url: await storage.url(sweep.manifestKey) }
      : null,
    jobs: await Promise.all(page.jobs.map((j) => jobView(j, storage))),
    nextCursor: page.nextCursor,
  };
}
