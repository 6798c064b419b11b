/** What travels through the queue between the API and the workers (internal; not the public contract). */
import type { JobRequest, JobStatus } from '@featurevis/contracts';

/** A job request with everything the API resolved: the seed, the model's hash when known. */
export type JobSpec = JobRequest & { seed: number };

export interface QueuedJobData {
  spec: JobSpec;
  sweepId: string | null;
  createdAt: number;
  /** Set when the job may share a batched run with other waiting jobs of the same key (batch-key.ts). */
  batchKey?: string;
}

export interface StoredImage {
  key: string;
  width: number;
  height: number;
  index: number;
  /** The model that made the image, in a job with `compare`. */
  model?: string;
}

/** What a finished job returns (BullMQ's returnvalue). */
export interface JobOutcome {
  images: StoredImage[];
  /** Attribution (transparency) maps, one per image, where the parameterisation records them. */
  attributions?: StoredImage[];
  /** Dataset examples (with `reference`): the reference set's top-k and bottom-k images per batch image. */
  examples?: Array<StoredImage & { kind: 'top' | 'bottom'; rank: number; value: number; label: string; referenceIndex: number }>;
  /** With `compare` and `filmstrip`: the models' images side by side. */
  filmstrip?: { key: string };
  snapshots: Array<StoredImage & { step: number }>;
  metadata: { key: string };
  metrics: Record<string, unknown>;
}

export interface ProgressData { step: number; steps: number; objective: number | null }

export interface JobRecord {
  id: string;
  status: JobStatus;
  data: QueuedJobData;
  progress: ProgressData;
  attempts: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  outcome: JobOutcome | null;
  error: string | null;
}

export const CANCELED_REASON = 'canceled';
/**
 * A canceled queued job still passes through a worker (BullMQ moves it to active), which drops it
 * without running it; this reason tells the record that it never started.
 */
export const CANCELED_BEFORE_START_REASON = 'canceled before it started';
export const isCanceledReason = (reason: string | undefined): boolean => reason === CANCELED_REASON || reason === CANCELED_BEFORE_START_REASON;
