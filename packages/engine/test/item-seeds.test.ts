/**
 * Per-item random streams (`itemSeeds`, issue 4): in a batched run whose items each have a seed, item i
 * draws its initial noise, its transforms' offsets and angles and the dae prior's noise from its own
 * stream, so it gives the same PNG bytes and the same objective value as a batch-1 run with that seed
 * (on WASM, where the model's per-item results do not depend on the batch), for every parameterisation
 * (pixel, fourier, laplacian, cppn, maco, generator), with pad/jitter/rotate and with the dae prior's
 * noise. This is what lets the
 * worker group jobs whose client chose the seed. Without itemSeeds a batch draws from one stream, and
 * the same item comes out otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Objective } from '@featurevis/contracts';
import { InvalidSpecError, type VisualizationOutput, type VisualizationSpec } from '../src/types.ts';
import { visualize } from '../src/visualize.ts';
import { shapesA, skipWithoutShapesA as skip } from './helpers/shapes-a.ts';

const SEED = 11;
const ITEM = 1;
const OBJECTIVE: Objective = { type: 'class', class: 'circle' };
/** The other items: their objectives and seeds differ from the item under test. */
const OTHERS: Array<{ objective: Objective; seed: number }> = [
  { objective: { type: 'class', class: 'square' }, seed: 5 },
  { objective: { type: 'channel', layer: 'conv2', channel: 3 }, seed: 12345 },
];

type Settings = Partial<VisualizationSpec>;

async function run(settings: Settings, objective: Objective | Objective[], seed: number, itemSeeds?: number[]): Promise<VisualizationOutput> {
  const batch = Array.isArray(objective) ? objective.length : 1;
  return visualize(await shapesA(), {
    model: 'shapes-a', method: 'naive', steps: 6, ...settings, objective, seed, image: { size: 32, batch }, ...(itemSeeds ? { itemSeeds } : {}),
  } as VisualizationSpec);
}

/** The batch of three with the item under test at ITEM, the leader's seed (the run's) that of item 0. */
function batchOf(): { objectives: Objective[]; itemSeeds: number[] } {
  const objectives = [OTHERS[0].objective, OBJECTIVE, OTHERS[1].objective];
  const itemSeeds = [OTHERS[0].seed, SEED, OTHERS[1].seed];
  return { objectives, itemSeeds };
}

const perImageObjective = (output: VisualizationOutput): number[] => (output.metrics.perImage as { objective: number[] }).objective;

const CASES: Array<[string, Settings]> = [
  ['pixel', { parameterization: { type: 'pixel' } }],
  ['fourier', { parameterization: { type: 'fourier' } }],
  ['laplacian', { parameterization: { type: 'laplacian' } }],
  ['cppn', { parameterization: { type: 'cppn' } }],
  ['maco', { parameterization: { type: 'maco' } }],
  ['generator', { method: 'generator' }],
  ['pixel with pad, jitter and rotate', { parameterization: { type: 'pixel' }, transforms: [{ type: 'pad', px: 2 }, { type: 'jitter', px: 3 }, { type: 'rotate', degrees: [-10, -5, 0, 5, 10] }, { type: 'jitter', px: 1 }] }],
  ['pixel with the dae prior\'s noise', { parameterization: { type: 'pixel' }, priors: [{ type: 'dae', epsilon1: 0.1, epsilon3: 0.05 }] }],
];

for (const [name, settings] of CASES) {
  test(`itemSeeds, ${name}: item ${ITEM} of a batch of 3 gives the batch-1 run's PNG bytes and objective`, { skip }, async () => {
    const alone = await run(settings, OBJECTIVE, SEED);
    const { objectives, itemSeeds } = batchOf();
    const batched = await run(settings, objectives, itemSeeds[0], itemSeeds);
    assert.equal(batched.images.length, 3);
    assert.deepEqual(Buffer.from(batched.images[ITEM].png), Buffer.from(alone.images[0].png), 'the item\'s PNG equals the run alone');
    assert.equal(perImageObjective(batched)[ITEM], perImageObjective(alone)[0]);
    // The other items are not copies of it: each drew from its own seed.
    assert.notDeepEqual(Buffer.from(batched.images[0].png), Buffer.from(batched.images[ITEM].png));
  });
}

test('itemSeeds, a grouped channel sweep (channels of one conv layer, computed from its input): each item gives its batch-1 run\'s PNG bytes', { skip }, async () => {
  // What the worker's grouped jobs run: per-item channels of the same layer (objectives/per-item.ts),
  // against a run of each channel alone (objectives/channel.ts); both take the layer's input path.
  const channels = [3, 7, 11, 30];
  const seeds = [21, 22, 23, 24];
  const objectives = channels.map((channel) => ({ type: 'channel', layer: 'conv3', channel }) as Objective);
  const batched = await run({ parameterization: { type: 'pixel' } }, objectives, seeds[0], seeds);
  for (const item of [0, 2]) {
    const alone = await run({ parameterization: { type: 'pixel' } }, objectives[item], seeds[item]);
    assert.deepEqual(Buffer.from(batched.images[item].png), Buffer.from(alone.images[0].png), `item ${item}: the PNG differs from its run alone`);
    assert.equal(perImageObjective(batched)[item], perImageObjective(alone)[0]);
  }
});

test('without itemSeeds a batch draws from one stream: the same item comes out otherwise', { skip }, async () => {
  for (const [, settings] of [CASES[0], CASES[4]]) {
    const alone = await run(settings, OBJECTIVE, SEED);
    const { objectives } = batchOf();
    const shared = await run(settings, objectives, SEED);
    assert.notDeepEqual(Buffer.from(shared.images[ITEM].png), Buffer.from(alone.images[0].png));
  }
});

test('a batch-1 run is its own item: itemSeeds [seed] changes nothing', { skip }, async () => {
  const settings = CASES[4][1];
  const plain = await run(settings, OBJECTIVE, SEED);
  const seeded = await run(settings, OBJECTIVE, SEED, [SEED]);
  assert.deepEqual(Buffer.from(seeded.images[0].png), Buffer.from(plain.images[0].png));
  assert.deepEqual(seeded.trace, plain.trace);
});

test('itemSeeds: one seed per batch item, and no scale transform across items', { skip }, async () => {
  const { objectives } = batchOf();
  await assert.rejects(run({}, objectives, 1, [1, 2]), (error: unknown) => error instanceof InvalidSpecError && error.field === 'itemSeeds');
  await assert.rejects(run({}, objectives, 1, [1, 2, -3]), (error: unknown) => error instanceof InvalidSpecError && error.field === 'itemSeeds');
  await assert.rejects(run({ transforms: [{ type: 'scale' }] }, objectives, 1, [1, 2, 3]), (error: unknown) => error instanceof InvalidSpecError && error.field === 'itemSeeds' && /scale/.test(error.message));
  // A single item may scale: it draws its factor from its own stream.
  const alone = await run({ transforms: [{ type: 'scale' }] }, OBJECTIVE, SEED, [SEED + 1]);
  assert.equal(alone.images.length, 1);
});
