/**
 * Presets (`method`): each resolves to the settings engine-spec's PRESETS gives it, explicit settings
 * override it, each raises its objective and leaves no tensors behind, and they differ as the survey
 * says (fixture classifier, 16 px). What the `yosinski` preset draws for the trained bundled classifier
 * is checked in shapes-a-visualizations.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { METHODS, PRESETS, resolveSettings } from '../src/presets.ts';
import { loadGenerator } from '../src/parameterizations/index.ts';
import { loadDae } from '../src/priors/index.ts';
import { InvalidSpecError, type VisualizationOutput } from '../src/types.ts';
import { gain, loadFixtureOnWasm, run } from './helpers/visualize-fixture.ts';

const model = await loadFixtureOnWasm();
// The ppgn preset's autoencoder and the generator preset's network are loaded once per process: load
// them before counting tensors.
await loadDae();
await loadGenerator();
const baseline = tf.memory().numTensors;
const ring = { type: 'class', class: 'ring' } as const;

test('each method resolves to its preset, with the schema defaults filled in', () => {
  assert.deepEqual([...METHODS], ['naive', 'simonyan', 'yosinski', 'mahendran', 'lucid', 'ppgn', 'generator']);
  for (const method of METHODS) {
    const settings = resolveSettings({ method, objective: ring }, model);
    const preset = PRESETS[method];
    assert.equal(settings.method, method);
    assert.equal(settings.parameterization.type, preset.parameterization.type);
    assert.deepEqual(settings.priors.map((prior) => prior.type), preset.priors.map((prior) => prior.type));
    assert.deepEqual(settings.transforms.map((transform) => transform.type), preset.transforms.map((transform) => transform.type));
    for (const [key, value] of Object.entries(preset.optimizer)) assert.deepEqual(settings.optimizer[key as keyof typeof settings.optimizer], value, `${method} optimizer.${key}`);
    // Every option the preset leaves out has its schema default.
    for (const prior of settings.priors) if (prior.type === 'blur') assert.ok(prior.sigmaPx !== undefined && prior.everySteps !== undefined);
    assert.equal(settings.image.size, 16, 'the model\'s default size');
    assert.equal(settings.image.batch, 1);
  }
  // The default method is naive, the survey's baseline.
  assert.equal(resolveSettings({ objective: ring }, model).method, 'naive');
});

test('explicit settings override the preset: lists replace it, objects merge by field', () => {
  const settings = resolveSettings({
    method: 'lucid', objective: ring, steps: 7, image: { size: 24 },
    parameterization: { type: 'fourier', decorrelate: false }, priors: [{ type: 'l1' }], transforms: [], optimizer: { learningRate: 0.2 }, snapshots: [9, 3, 3],
  }, model);
  assert.deepEqual(settings.parameterization, { ...PRESETS.lucid.parameterization, decorrelate: false });
  assert.deepEqual(settings.priors, [{ type: 'l1', weight: 0.3 }]);
  assert.deepEqual(settings.transforms, []);
  assert.equal(settings.optimizer.learningRate, 0.2);
  assert.equal(settings.optimizer.type, PRESETS.lucid.optimizer.type);
  assert.deepEqual(settings.snapshots, [3]);
  assert.deepEqual(settings.image, { size: 24, batch: 1 });
  // Another parameterisation type replaces the preset's whole.
  assert.deepEqual(resolveSettings({ method: 'lucid', objective: ring, parameterization: { type: 'pixel' } }, model).parameterization, { type: 'pixel', decorrelate: false, range: 'clip' });
  // A per-item list sets the batch; a different explicit batch, or an unknown method, is refused.
  assert.equal(resolveSettings({ objective: [ring, ring, ring] }, model).image.batch, 3);
  assert.throws(() => resolveSettings({ objective: [ring, ring], image: { batch: 3 } }, model), (error: unknown) => error instanceof InvalidSpecError && error.field === 'image.batch');
  assert.throws(() => resolveSettings({ objective: ring, method: 'olah' as never }, model), (error: unknown) => error instanceof InvalidSpecError && error.field === 'method');
});

test('every preset raises the objective and leaves no tensors behind, with snapshots and a batch', async () => {
  for (const method of METHODS) {
    const before = tf.memory().numTensors;
    const output = await run(model, { objective: ring, method, image: { batch: 2 }, snapshots: [5] });
    assert.equal(tf.memory().numTensors, before, `${method} left tensors`);
    assert.equal(output.snapshots.length, 2);
    // The lucid preset (sigmoid range, decorrelated Fourier) starts slowest on an untrained model; ppgn
    // takes plain SGD steps of ε2 times the raw gradient (no Adam scaling), small on the fixture's logits;
    // simonyan's L2 prior holds the contrast down (gain 0.21 against naive's 0.47); generator can only draw
    // what its shapes-set generator draws (0.19; generator.test.ts checks it on shapes-a).
    assert.ok(gain(output) > (({ lucid: 0.02, ppgn: 0.003, simonyan: 0.1, generator: 0.1 } as Record<string, number>)[method] ?? 0.2), `${method}: gain ${gain(output)}`);
  }
  assert.equal(tf.memory().numTensors, baseline);
});

test('the presets differ the way the survey says: priors and transforms smooth the image', async () => {
  const outputs: Record<string, VisualizationOutput> = {};
  for (const method of METHODS) outputs[method] = await run(model, { objective: ring, method });
  const tv = (method: string) => outputs[method].metrics.totalVariation as number;
  const hf = (method: string) => outputs[method].metrics.highFrequencyEnergy as number;
  for (const method of ['yosinski', 'mahendran', 'lucid']) assert.ok(tv(method) < tv('naive'), `${method} TV ${tv(method)} vs naive ${tv('naive')}`);
  assert.ok(hf('yosinski') < 0.5 * hf('naive') && hf('lucid') < 0.5 * hf('naive'), `high-frequency energy: naive ${hf('naive')}, yosinski ${hf('yosinski')}, lucid ${hf('lucid')}`);
});
