/**
 * A seeded random source. Every random choice of a run (initial noise, jitter offsets, scales, angles)
 * draws from one of these, in a fixed order, so the same seed on the same backend reproduces a run
 * bit for bit.
 *
 * Hand-written because it is ten lines: sfc32 (Chris Doty-Humphrey's Small Fast Counter, from
 * PractRand), seeded through splitmix32 so that nearby seeds give unrelated streams. Math.random cannot
 * be seeded, and tfjs's own seeded ops draw a fresh stream per call from the seed we give them
 * (`nextSeed`).
 */
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
