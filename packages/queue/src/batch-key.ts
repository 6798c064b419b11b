/**
 * Which queued jobs may share one batched run (issue 4). A job qualifies when it is one image whose
 * objective the engine can evaluate per batch item without the other items mattering (a unit of the
 * model, a class, a direction, a region, or a sum / negation of those: not `diversity`, which compares
 * the batch's items, nor `interpolate`, which depends on the item's position, nor `inversion`). Jobs
 * share a run when everything else of their spec is identical: the compatibility key hashes the spec
 * without its objective and its seed.
 *
 * The seed does not matter because each item of a batched run draws from its own seed (the engine's
 * per-item random streams, `itemSeeds`): its noise, transform offsets and angles are those of a run of
 * its own, so a job whose client chose the seed gets the same bytes grouped or alone (on one backend),
 * as the API promises. One exception: the `scale` transform resizes the whole batch by one factor per
 * step, so its items cannot draw apart; a job with it groups only when its seed was not chosen, and
 * then the whole run draws from the leader's seed (`drawsPerItem`).
 */
import { createHash } from 'node:crypto';
import { stringify as canonicalJson } from 'safe-stable-stringify';
import { resolveEngineSettings, type Objective } from '@featurevis/contracts';
import type { JobSpec } from './records.ts';

const PER_ITEM_TYPES = new Set(['neuron', 'channel', 'layer', 'class', 'direction', 'region']);

/** Whether the objective of item i depends on item i's image alone. */
function isPerItemObjective(objective: Objective): boolean {
  if (Array.isArray(objective)) return false;
  switch (objective.type) {
    case 'sum': return objective.terms.every((term) => isPerItemObjective(term.objective));
    case 'negate': return isPerItemObjective(objective.objective);
    default: return PER_ITEM_TYPES.has(objective.type);
  }
}

/** One image of a per-item objective, no comparison across models, no facets (whose batch is k). */
export function isBatchable(spec: JobSpec): boolean {
  return (spec.image?.batch ?? 1) === 1 && !spec.compare && !spec.facets && isPerItemObjective(spec.objective);
}

/**
 * Whether each item of a batched run of this spec can draw from its own seed (the engine's `itemSeeds`):
 * every setting but a `scale` transform, which draws one factor for the whole batch.
 */
export function drawsPerItem(spec: JobSpec): boolean {
  return !resolveEngineSettings(spec, { defaultSizePx: 1 }).transforms.some((transform) => transform.type === 'scale');
}

export interface BatchKeyOptions {
  /** The model's content hash when the API knows it: an upload that replaces a model starts new groups. */
  modelHash?: string;
  /** The client gave the seed: unless its items draw apart (drawsPerItem), the job runs alone, so that seed reproduces its images. */
  seedPinned?: boolean;
}

/** The compatibility key of a job that may share a batched run, or null when it runs alone. */
export function batchKeyOf(spec: JobSpec, options: BatchKeyOptions = {}): string | null {
  if (!isBatchable(spec) || (options.seedPinned && !drawsPerItem(spec))) return null;
  const { objective: _objective, seed: _seed, ...settings } = spec;
  const keyed = { settings, modelHash: options.modelHash ?? null };
  // Object keys sorted (safe-stable-stringify), so equal specs hash equally whatever their field order.
  return createHash('sha256').update(canonicalJson(keyed) ?? '').digest('hex').slice(0, 32);
}
