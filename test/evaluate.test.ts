/**
 * `npm run evaluate` (scripts/evaluate.ts) builds its table from the engine's per-unit results; these
 * check the building on hand-made results, without TensorFlow (the evaluation itself is a script that
 * reports figures, not a test).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PNG } from 'pngjs';
import {
  GENERATED_BEGIN, GENERATED_END, composeGrid, evaluationUnits, markdownTable, meanPixelDistance, summarise, withGeneratedSection, type RunResult,
} from '../scripts/evaluate.ts';

const units = evaluationUnits(['circle', 'red'], [3]);
const image = (value: number) => new Float32Array(2 * 2 * 3).fill(value);
const run = (seed: number, pixel: number, overrides: Partial<RunResult> = {}): RunResult => ({
  seed,
  classProbability: [0.9, 0.1, null],
  referenceRatio: [2, 1, 0.5],
  transferProbability: [0.6, 0.2, null],
  totalVariation: [0.1, 0.2, 0.3],
  highFrequencyEnergy: [0.01, 0.02, 0.03],
  pixels: [image(pixel), image(pixel), image(pixel)],
  loopMs: 100 * seed,
  ...overrides,
});

test('a row: class columns over class units, channel columns over channels, diversity between the two seeds', () => {
  const row = summarise('naive', units, [run(1, 0), run(2, 0.25, { classProbability: [0.7, 0.3, null] })]);
  assert.equal(row.implemented, true);
  assert.ok(Math.abs(row.pTarget! - (0.9 + 0.1 + 0.7 + 0.3) / 4) < 1e-9);
  assert.equal(row.classesReached, 1, 'circle (mean 0.8) reaches 0.5, red (0.2) does not');
  assert.equal(row.referenceRatioClasses, 1.5);
  assert.equal(row.referenceRatioChannels, 0.5);
  assert.ok(Math.abs(row.pTransfer! - 0.4) < 1e-9);
  assert.ok(Math.abs(row.totalVariation! - 0.2) < 1e-9);
  assert.equal(row.diversity, 0.25);
  assert.equal(row.loopMs, 150);
});

test('a method without runs is a "not implemented" row; the table has one line per method', () => {
  const rows = [summarise('naive', units, [run(1, 0), run(2, 1)]), summarise('generator', units, [])];
  const table = markdownTable(rows, units.length).split('\n');
  assert.equal(table.length, 4);
  assert.match(table[2]!, /^\| naive \| 0\.500 \| 1\/2 \|/);
  assert.match(table[3]!, /^\| generator \| not implemented \|/);
  assert.throws(() => meanPixelDistance(image(0), new Float32Array(3)), /differ in size/);
});

test('a rerun replaces only the generated section of the doc', () => {
  const first = withGeneratedSection(null, 'table 1');
  assert.ok(first.includes(`${GENERATED_BEGIN}\ntable 1\n${GENERATED_END}`));
  const edited = `${first}\nA hand-written reading.\n`;
  const second = withGeneratedSection(edited, 'table 2');
  assert.ok(second.includes('table 2') && !second.includes('table 1'));
  assert.ok(second.endsWith('A hand-written reading.\n'));
});

test('the grid has one cell per image, scaled, with gaps', () => {
  const png = PNG.sync.read(Buffer.from(composeGrid([[image(1), image(0)], [image(0.5)]], 2, { scale: 3, gapPx: 1, groupGapPx: 4, groupStarts: new Set([0, 1]) })));
  assert.equal(png.width, 1 + 2 * (6 + 1));
  assert.equal(png.height, 1 + (6 + 1) + 3 + (6 + 1));
  const at = (x: number, y: number) => png.data[(y * png.width + x) * 4];
  assert.equal(at(1, 1), 255, 'first cell white');
  assert.equal(at(8, 1), 0, 'second cell black');
  assert.equal(at(1, 11), 128, 'second row, after the group gap, grey');
});
