/**
 * A seeded random source. Every random choice of a run (initial noise, jitter offsets, scales, angles)
 * draws from one of these, in a fixed order, so the same seed on the same backend reproduces a run
 * bit for bit.
 *
 * Hand-written because it is ten lines: sfc32 (Chris Doty-Humphrey's Small Fast Counter, from
 * PractRand), seeded through splitmix32 so that nearby seeds give unrelated streams. Math.random cannot
 * be seeded, and tfjs's own seeded ops draw a fresh stream per call from the seed we give them
 * (`nextSeed`).
 *
 * Per-item streams (`VisualizationSpec.itemSeeds`, issue 4): a batched run that groups independent
 * jobs gives each batch item its own Random, and every draw that concerns one item (its initial noise,
 * its transforms' offsets and angles, the dae prior's noise) comes from that item's stream in an order
 * that does not depend on the other items. Item i of such a run then draws exactly what a batch-1 run
 * seeded with itemSeeds[i] draws, and (the model's per-item results being batch-invariant on a
 * backend, as measured on WASM) gives the same image.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Random } from './units.ts';

/** splitmix32: spreads a 32-bit seed into well-mixed state words. */
function splitmix32(state: number): () => number {
  return () => {
    state = (state + 0x9e3779b9) | 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** A Random seeded with an unsigned 32-bit integer. */
export function createRandom(seed: number): Random {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be an integer in [0, 2^32): ${seed}`);
  const mix = splitmix32(seed);
  let a = mix(), b = mix(), c = mix(), d = mix();
  const nextUint32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  return {
    next: () => nextUint32() / 4294967296,
    // tfjs seeds its ops' generators (seedrandom's alea) with a number; keep it a positive int32.
    nextSeed: () => nextUint32() >>> 1,
  };
}

/** A run's random streams: the run's own, and one per batch item when the items draw apart. */
export interface RunRandoms {
  random: Random;
  /** Item i's stream; absent for a batched run without `itemSeeds` (one stream for the batch). */
  itemRandoms?: readonly Random[];
}

/**
 * The per-item streams of a run. With `itemSeeds`, one Random per item (a batch of 1 whose item seed
 * is the run's seed shares the run's Random, so facets' k-means keeps its place in the stream). Without,
 * a batch of 1 is its own item (itemSeeds = [seed]: the run's Random), and a larger batch has none, so
 * its draws stay one per batch, as before per-item streams existed.
 */
export function itemRandomsOf(random: Random, seed: number, batch: number, itemSeeds: readonly number[] | undefined): Random[] | undefined {
  if (!itemSeeds) return batch === 1 ? [random] : undefined;
  if (itemSeeds.length !== batch) throw new RangeError(`itemSeeds must give one seed per batch item: ${itemSeeds.length} for a batch of ${batch}`);
  if (batch === 1 && itemSeeds[0] === seed) return [random];
  return itemSeeds.map((itemSeed) => createRandom(itemSeed));
}

/**
 * A seeded tensor of `shape` = [batch, ...]: with per-item streams, item i's slice is drawn alone from
 * item i's stream (one `nextSeed` each), so it is the same whatever the other items and the batch size;
 * without, one draw for the whole batch from the run's Random.
 */
export function drawPerItem(randoms: RunRandoms, shape: readonly number[], draw: (shape: number[], seed: number) => tf.Tensor): tf.Tensor {
  const { random, itemRandoms } = randoms;
  if (!itemRandoms) return draw([...shape], random.nextSeed());
  if (itemRandoms.length !== shape[0]) throw new RangeError(`${itemRandoms.length} item streams for a batch of ${shape[0]}`);
  const itemShape = [1, ...shape.slice(1)];
  if (itemRandoms.length === 1) return draw(itemShape, itemRandoms[0].nextSeed());
  return tf.tidy(() => tf.concat(itemRandoms.map((itemRandom) => draw(itemShape, itemRandom.nextSeed())), 0));
}
