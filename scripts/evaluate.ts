/**
 * `npm run evaluate [-- --steps=64] [-- --size=32] [-- --quick]`: compares the engine's methods on the
 * bundled models, the same units and seeds for each (issue 5, "Evaluation"), and writes
 * docs/evaluation.md (a table and the machine it ran on) and docs/evaluation/grid.png (rows: methods ×
 * seeds, columns: units).
 *
 * Per method, two runs (seeds 1 and 2) of one batch that holds every unit: every class of shapes-a and a
 * few conv3 channels. The columns are means over the units:
 *   - p(target): shapes-a's probability for the targeted class (class units);
 *   - ref ratio: the objective on the final image over its largest value on the bundled shapes set
 *     (256 images), for class logits and conv3 channels apart ("how far beyond natural images");
 *   - p on shapes-b: the probability shapes-b (same architecture, another training seed) gives the
 *     targeted class on the same PNG (transferability; scoreImages);
 *   - total variation and high-frequency energy: the engine's image metrics (lower is smoother);
 *   - diversity: mean absolute pixel difference (0–1) between the seed-1 and seed-2 images of a unit;
 *   - time: the optimisation loop of one run (all units as one batch), without the reference-set pass.
 * Figures, never assertions: test/evaluate.test.ts checks only the table building on fake results.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import type { Objective } from '@featurevis/contracts';

/** A row of the comparison: a preset, or a preset with a different parameterisation. */
export interface MethodVariant {
  name: string;
  /** What it is, for the doc. */
  description: string;
  /** Settings merged into the spec; null for a method the engine does not have yet. */
  settings: Record<string, unknown> | null;
  /** How class units are scored (PPGN's class term is log p(y|x), not the logit). */
  classScore?: 'logit' | 'logProbability';
}

export const METHOD_VARIANTS: MethodVariant[] = [
  { name: 'naive', description: 'raw pixels, Adam, no prior (Erhan et al. 2009)', settings: { method: 'naive' } },
  { name: 'simonyan', description: 'pixels + L2 penalty (Simonyan et al. 2014)', settings: { method: 'simonyan' } },
  { name: 'yosinski', description: 'Fourier + L2 decay, blur, clipping (Yosinski et al. 2015, retuned)', settings: { method: 'yosinski' } },
  { name: 'mahendran', description: 'pixels + total variation (Mahendran & Vedaldi 2015)', settings: { method: 'mahendran' } },
  { name: 'lucid', description: 'decorrelated Fourier + jitter/scale/rotate (Olah et al. 2017)', settings: { method: 'lucid' } },
  { name: 'maco', description: 'lucid\'s transforms with the maco parameterisation (Fel et al. 2023; fixed shapes-set spectrum, phases optimised)', settings: { method: 'lucid', parameterization: { type: 'maco' } } },
  { name: 'generator', description: 'DGN-AM: optimise the code of a generator trained on the shapes set, within the real codes\' range (Nguyen et al. 2016; priors/generator-shapes)', settings: { method: 'generator' } },
  { name: 'sampling', description: 'PPGN sampling in image space: a denoising autoencoder\'s prior (priors/dae-shapes) + ε2·∂log p(y|x)/∂x + noise (Nguyen et al. 2017); the final sample', settings: { sampling: { epsilon1: 0.1, epsilon2: 0.5, epsilon3: 0.02, samples: 1 } }, classScore: 'logProbability' },
  { name: 'sampling (latent)', description: 'PPGN sampling in the generator\'s latent space, as in the paper: h ← h + ε1·(R_h(h) − h) + ε2·∂log p(y|G(h))/∂h + noise, R_h a denoising autoencoder of the shapes generator\'s codes (priors/latent-dae-shapes; Nguyen et al. 2017); the final sample', settings: { sampling: { epsilon1: 0.1, epsilon2: 1, epsilon3: 0.2, samples: 1, space: 'latent' } }, classScore: 'logProbability' },
];

export interface Unit { label: string; objective: Objective; isClass: boolean }

export function evaluationUnits(labels: readonly string[], channels: readonly number[]): Unit[] {
  return [
    ...labels.map((label) => ({ label, objective: { type: 'class', class: label } as Objective, isClass: true })),
    ...channels.map((channel) => ({ label: `conv3:${channel}`, objective: { type: 'channel', layer: 'conv3', channel } as Objective, isClass: false })),
  ];
}

/** What one run of a method gave, per unit (the script's raw results; the test builds these by hand). */
export interface RunResult {
  seed: number;
  /** Per unit, in `evaluationUnits` order. */
  classProbability: Array<number | null>;
  referenceRatio: Array<number | null>;
  transferProbability: Array<number | null>;
  totalVariation: Array<number | null>;
  highFrequencyEnergy: Array<number | null>;
  /** Per unit, the image as RGB floats in [0,1]. */
  pixels: Float32Array[];
  loopMs: number;
}

export interface TableRow {
  method: string;
  implemented: boolean;
  pTarget: number | null;
  /** Classes (of all) whose mean p over the seeds is ≥ 0.5. */
  classesReached: number | null;
  classCount: number;
  referenceRatioClasses: number | null;
  referenceRatioChannels: number | null;
  pTransfer: number | null;
  totalVariation: number | null;
  highFrequencyEnergy: number | null;
  diversity: number | null;
  loopMs: number | null;
}

const mean = (values: Array<number | null | undefined>): number | null => {
  const present = values.filter((value): value is number => typeof value === 'number' && Number.isFinite(value));
  return present.length > 0 ? present.reduce((a, b) => a + b, 0) / present.length : null;
};

/** Mean absolute difference of two images' pixels (0: the same image, 1: black against white). */
export function meanPixelDistance(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new RangeError(`images differ in size: ${a.length} vs ${b.length} values`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

/** One table row from a method's runs (every seed); diversity compares the first two seeds unit by unit. */
export function summarise(method: string, units: Unit[], runs: RunResult[]): TableRow {
  const classCount = units.filter((unit) => unit.isClass).length;
  if (runs.length === 0) {
    return { method, implemented: false, pTarget: null, classesReached: null, classCount, referenceRatioClasses: null, referenceRatioChannels: null, pTransfer: null, totalVariation: null, highFrequencyEnergy: null, diversity: null, loopMs: null };
  }
  const over = (pick: (run: RunResult) => Array<number | null>, which: (unit: Unit) => boolean) =>
    mean(runs.flatMap((run) => pick(run).filter((_, i) => which(units[i]!))));
  const isClass = (unit: Unit) => unit.isClass;
  const isChannel = (unit: Unit) => !unit.isClass;
  const all = () => true;
  const classesReached = units.filter((unit, i) => unit.isClass && (mean(runs.map((run) => run.classProbability[i])) ?? 0) >= 0.5).length;
  const [first, second] = runs;
  return {
    method,
    implemented: true,
    pTarget: over((run) => run.classProbability, isClass),
    classesReached,
    classCount,
    referenceRatioClasses: over((run) => run.referenceRatio, isClass),
    referenceRatioChannels: over((run) => run.referenceRatio, isChannel),
    pTransfer: over((run) => run.transferProbability, isClass),
    totalVariation: over((run) => run.totalVariation, all),
    highFrequencyEnergy: over((run) => run.highFrequencyEnergy, all),
    diversity: second ? mean(units.map((_, i) => meanPixelDistance(first!.pixels[i]!, second.pixels[i]!))) : null,
    loopMs: mean(runs.map((run) => run.loopMs)),
  };
}

const format = (digits: number) => (value: number | null) => (value === null ? '–' : value.toFixed(digits));

/** The comparison as a Markdown table; methods the engine lacks get a "not implemented" row. */
export function markdownTable(rows: TableRow[], unitsPerRun: number): string {
  const header = ['method', 'p(target) ↑', 'classes p ≥ 0.5', 'ref ratio, classes ↑', 'ref ratio, conv3 ↑', 'p on shapes-b ↑', 'total variation ↓', 'HF energy ↓', 'diversity', `ms per run (${unitsPerRun} units)`];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const row of rows) {
    const cells = row.implemented
      ? [
        row.method, format(3)(row.pTarget), `${row.classesReached}/${row.classCount}`,
        format(2)(row.referenceRatioClasses), format(2)(row.referenceRatioChannels), format(3)(row.pTransfer),
        format(3)(row.totalVariation), format(3)(row.highFrequencyEnergy), format(3)(row.diversity), format(0)(row.loopMs),
      ]
      : [row.method, 'not implemented', ...header.slice(2).map(() => '')];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/**
 * Per unit and method, mean over the seeds: p(target) for a class unit, the reference ratio for a
 * channel unit — where the summary's means hide which classes a method does not reach.
 */
export function perUnitTable(units: Unit[], methods: Array<{ method: string; runs: RunResult[] }>): string {
  const header = ['method', ...units.map((unit) => (unit.isClass ? `p ${unit.label}` : `ratio ${unit.label}`))];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const { method, runs } of methods) {
    const cells = units.map((unit, i) => format(2)(mean(runs.map((run) => (unit.isClass ? run.classProbability[i] : run.referenceRatio[i])))));
    lines.push(`| ${[method, ...cells].join(' | ')} |`);
  }
  return lines.join('\n');
}

/**
 * Composes images into one PNG: `rows[r][c]` is an RGB float image of `sizePx`², drawn `scale` times
 * larger; a thin gap between cells, a wider one before each row that starts a new group.
 */
export function composeGrid(rows: Float32Array[][], sizePx: number, options: { scale: number; gapPx: number; groupGapPx: number; groupStarts: Set<number> }): Uint8Array {
  const cell = sizePx * options.scale;
  const columns = Math.max(...rows.map((row) => row.length));
  const rowTops: number[] = [];
  let y = options.gapPx;
  rows.forEach((_, r) => {
    if (r > 0 && options.groupStarts.has(r)) y += options.groupGapPx - options.gapPx;
    rowTops.push(y);
    y += cell + options.gapPx;
  });
  const width = options.gapPx + columns * (cell + options.gapPx);
  const height = y;
  const png = new PNG({ width, height });
  png.data.fill(255);
  rows.forEach((row, r) => row.forEach((rgb, c) => {
    const left = options.gapPx + c * (cell + options.gapPx);
    for (let py = 0; py < cell; py++) {
      for (let px = 0; px < cell; px++) {
        const source = (Math.floor(py / options.scale) * sizePx + Math.floor(px / options.scale)) * 3;
        const target = ((rowTops[r]! + py) * width + left + px) * 4;
        for (let k = 0; k < 3; k++) png.data[target + k] = Math.round(Math.min(1, Math.max(0, rgb[source + k]!)) * 255);
        png.data[target + 3] = 255;
      }
    }
  }));
  return new Uint8Array(PNG.sync.write(png));
}

export const GENERATED_BEGIN = '<!-- evaluate:begin (written by npm run evaluate) -->';
export const GENERATED_END = '<!-- evaluate:end -->';

/**
 * docs/evaluation.md with `generated` between the markers: the hand-written text around them (the
 * reading of the table) survives a rerun; a missing file or one without markers gets a skeleton.
 */
export function withGeneratedSection(previous: string | null, generated: string): string {
  const section = `${GENERATED_BEGIN}\n${generated}\n${GENERATED_END}`;
  const begin = previous?.indexOf(GENERATED_BEGIN) ?? -1;
  const end = previous?.indexOf(GENERATED_END) ?? -1;
  if (previous && begin >= 0 && end > begin) return previous.slice(0, begin) + section + previous.slice(end + GENERATED_END.length);
  return `# Evaluation of the methods\n\n${section}\n`;
}

// ---- the run (only when executed, so the test can import the pure parts without TensorFlow) ----

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      steps: { type: 'string' },
      size: { type: 'string' },
      out: { type: 'string', default: fileURLToPath(new URL('../docs/', import.meta.url)) },
    },
  });
  const quick = args.quick ?? false;
  const steps = Number(args.steps ?? (quick ? 16 : 64));
  const sizePx = Number(args.size ?? 32);
  const seeds = [1, 2];
  const referenceCount = quick ? 64 : 256;
  const channels = [0, 5, 10, 20];

  const { initBackend } = await import('@featurevis/engine/backends');
  const { loadModelFromDirectory } = await import('@featurevis/engine/models');
  const { visualize, scoreImages, decodePng } = await import('@featurevis/engine');
  const tf = await import('@tensorflow/tfjs-core');

  const backend = await initBackend('wasm');
  const modelsDir = fileURLToPath(new URL('../models/', import.meta.url));
  const shapesA = await loadModelFromDirectory(`${modelsDir}shapes-a`, 'shapes-a');
  const shapesB = await loadModelFromDirectory(`${modelsDir}shapes-b`, 'shapes-b');
  const units = evaluationUnits(shapesA.info.labels ?? [], channels);
  const classUnits = units.filter((unit) => unit.isClass);
  const loadBefore = os.loadavg();
  const startedMs = performance.now();

  const rows: TableRow[] = [];
  const allRuns: Array<{ method: string; runs: RunResult[] }> = [];
  const gridRows: Float32Array[][] = [];
  const groupStarts = new Set<number>();
  for (const variant of METHOD_VARIANTS) {
    if (!variant.settings) {
      rows.push(summarise(variant.name, units, []));
      continue;
    }
    const runs: RunResult[] = [];
    for (const seed of seeds) {
      const spec = {
        model: 'shapes-a', objective: units.map((unit) => unit.isClass && variant.classScore ? { ...unit.objective, score: variant.classScore } as Objective : unit.objective), steps, seed,
        image: { size: sizePx, batch: units.length }, reference: { set: 'shapes', count: referenceCount, examples: 0 },
        ...variant.settings,
      };
      const output = await visualize(shapesA, spec as Parameters<typeof visualize>[1]);
      const perImage = output.metrics.perImage as Record<string, Array<number | null> | null>;
      const pngs = output.images.map((image) => image.png);
      const classPngs = pngs.filter((_, i) => units[i]!.isClass);
      const transfer = await scoreImages(shapesB, { objective: classUnits.map((unit) => unit.objective) }, classPngs);
      let classItem = 0;
      runs.push({
        seed,
        classProbability: perImage.classProbability ?? units.map(() => null),
        referenceRatio: perImage.referenceRatio ?? units.map(() => null),
        transferProbability: units.map((unit) => (unit.isClass ? transfer[classItem++]!.classProbability : null)),
        totalVariation: perImage.totalVariation ?? units.map(() => null),
        highFrequencyEnergy: perImage.highFrequencyEnergy ?? units.map(() => null),
        pixels: pngs.map((png) => decodePng(png).rgb),
        loopMs: output.timings.meanStepMs * steps,
      });
      console.error(`${variant.name} seed ${seed}: ${(output.timings.totalMs / 1000).toFixed(1)} s, objective ${(output.metrics.objective as number).toFixed(2)}`);
    }
    groupStarts.add(gridRows.length);
    for (const run of runs) gridRows.push(run.pixels);
    rows.push(summarise(variant.name, units, runs));
    allRuns.push({ method: variant.name, runs });
  }
  const totalS = (performance.now() - startedMs) / 1000;
  const loadAfter = os.loadavg();
  shapesA.dispose();
  shapesB.dispose();

  const table = markdownTable(rows, units.length);
  console.log(`${table}\n\n${perUnitTable(units, allRuns)}`);
  const outDir = args.out!;
  await mkdir(`${outDir}evaluation`, { recursive: true });
  await writeFile(`${outDir}evaluation/grid.png`, composeGrid(gridRows, sizePx, { scale: 2, gapPx: 2, groupGapPx: 10, groupStarts }));
  const cpus = os.cpus();
  const machine = [
    `- Machine: ${cpus[0]?.model ?? 'unknown CPU'} × ${cpus.length} logical cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}, Node ${process.version}, TF.js backend \`${backend.name}\` (${tf.getBackend()}).`,
    `- Load average (1/5/15 min) before: ${loadBefore.map((l) => l.toFixed(2)).join(' / ')}; after: ${loadAfter.map((l) => l.toFixed(2)).join(' / ')} (the cores are shared with other work, so times are indicative).`,
    `- Steps ${steps}, image ${sizePx} px, seeds ${seeds.join(' and ')}, reference set: shapes, ${referenceCount} images; every unit of a method in one batch of ${units.length}; whole evaluation ${totalS.toFixed(0)} s.${quick ? ' (--quick)' : ''}`,
  ].join('\n');
  const generated = `${table}\n\nPer unit (mean over the seeds; classes: p(target) on shapes-a, conv3 channels: ref ratio):\n\n${perUnitTable(units, allRuns)}\n\n${machine}\n\nGrid (docs/evaluation/grid.png): rows are the methods in the table's order, two rows each (seed 1, seed 2); columns are the units: ${units.map((unit) => unit.label).join(', ')}.\n\n![methods × units](evaluation/grid.png)`;
  const docPath = `${outDir}evaluation.md`;
  const previous = await readFile(docPath, 'utf8').catch(() => null);
  await writeFile(docPath, withGeneratedSection(previous, generated));
  console.error(`\nwrote ${outDir}evaluation/grid.png and ${docPath} (${totalS.toFixed(0)} s)\n${machine}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
