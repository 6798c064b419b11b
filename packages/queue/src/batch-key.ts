/**
 * Which queued jobs may share one batched run (issue 4). A job qualifies when it is one image whose
 * objective the engine can evaluate per batch item without the other items mattering (a unit of the
 * model, a class, a direction, a region, or a sum / negation of those: not `diversity`, which compares
 * the batch's items, nor `interpolate`, which depends on the item's position, nor `inversion`). Jobs
 * share a run when everything else of their spec is identical: the compatibility key hashes the spec
 * without its objective and its seed.
 *
 * A job whose client chose the seed runs alone: the API promises byte-identical images for the same
 * seed, and a batched run draws its noise and transforms for the whole batch from the leader's seed, so
 * an item's images depend on the batch it was in (per-item random streams in the engine would lift this).
 */
import { createHash } from 'node:crypto';
import { stringify as canonicalJson } from 'safe-stable-stringify';
import type { Objective } from '@featurevis/contracts';
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

export interface BatchKeyOptions {
  /** The model's content hash when the API knows it: an upload that replaces a model starts new groups. */
  modelHash?: string;
  /** The client gave the seed: the job runs alone, so that seed reproduces its images. */
  seedPinned?: boolean;
}

/** The compatibility key of a job that may share a batched run, or null when it runs alone. */
export function batchKeyOf(spec: JobSpec, options: BatchKeyOptions = {}): string | null {
  if (options.seedPinned || !isBatchable(spec)) return null;
  const { objective: _objective, seed: _seed, ...settings } = spec;
  const keyed = { settings, modelHash: options.modelHash ?? null };
  // Object keys sorted (safe-stable-stringify), so equal specs hash equally whatever their field order.
  return createHash('sha256').update(canonicalJson(keyed) ?? '').digest('hex').slice(0, 32);
}
