/**
 * The bundled models (models/<id>/, written by scripts/train-models.ts): each loads through the
 * engine, its saved view agrees with its files (labels = the shapes set's labels, one per logit), and
 * the trained ones classify fresh shapes images — a seed neither training nor the script's held-out
 * set used — as well as the script claimed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@featurevis/engine/backends';
import { loadModelFromDirectory, MODEL_VIEW_FILE } from '@featurevis/engine/models';
import { generateShapes, shapesTensor, LABELS } from '@featurevis/engine/datasets';

const modelsDir = fileURLToPath(new URL('../../../models/', import.meta.url));
const bundled = existsSync(modelsDir) ? readdirSync(modelsDir).filter((id) => existsSync(path.join(modelsDir, id, MODEL_VIEW_FILE))).sort() : [];

/** The accuracy each trained model must reach on the fresh batch (the training script's thresholds, less a margin for 64 images). */
const REQUIRED_ACCURACY: Record<string, number> = { 'shapes-a': 0.9, 'shapes-b': 0.9, 'shapes-dw-graph': 0.85 };
const REQUIRED_NOW = ['shapes-a', 'shapes-b', 'shapes-dw-graph'];

const fresh = generateShapes({ count: 64, seed: 20_240_611, sizePx: 32 });

test('the bundled models the service relies on are there', () => {
  for (const id of REQUIRED_NOW) assert.ok(bundled.includes(id), `models/${id} is missing (npm run train -- --only ${id})`);
});

for (const id of bundled) {
  test(`bundled model ${id}: loads, its view matches its files, and it classifies fresh shapes`, async (t) => {
    await initBackend('wasm');
    const dir = path.join(modelsDir, id);
    const saved = JSON.parse(readFileSync(path.join(dir, MODEL_VIEW_FILE), 'utf8'));
    assert.equal(saved.id, id, 'featurevis.json id is the folder name');
    const model = await loadModelFromDirectory(dir, id);
    try {
      assert.deepEqual(model.info.labels, [...LABELS]);
      assert.deepEqual(model.info.input.range, [0, 1]);
      assert.equal(model.info.output.classes, LABELS.length);
      // The view the catalog serves was computed from these very files.
      assert.equal(saved.hash, model.info.hash);
      assert.equal(saved.format, model.info.format);
      const logits = model.info.layers.find((layer) => layer.name === model.info.output.logitsLayer);
      assert.ok(logits, `no logits layer in ${id}`);
      assert.equal(logits.channels, LABELS.length);
      for (const layer of model.info.layers) assert.ok(layer.shape.length >= 1, `${layer.name} has a shape`);

      const predicted = tf.tidy(() => {
        const scores = model.activations(shapesTensor(fresh), [model.info.output.logitsLayer!])[0];
        return tf.argMax(scores, -1).dataSync();
      });
      const correct = fresh.labels.filter((label, k) => predicted[k] === label).length;
      const accuracy = correct / fresh.count;
      t.diagnostic(`${id}: ${correct}/${fresh.count} fresh images correct`);
      const required = REQUIRED_ACCURACY[id];
      if (required !== undefined) assert.ok(accuracy >= required, `${id}: ${correct}/${fresh.count} correct, needs ≥ ${required}`);
      // Checkpoints of an early epoch need not be good, but a trained network is never at chance (1/8).
      else assert.ok(accuracy > 0.3, `${id}: ${correct}/${fresh.count} correct, no better than chance`);
    } finally {
      model.dispose();
    }
  });
}
