/**
 * `npm run bench [-- --quick] [-- --backends=cpu,wasm] [-- --groups=step-cost] [-- --wasm-threads=1,auto] [-- --native-conv=auto,off]`:
 * runs the benchmark groups, prints a table and writes bench/results/latest.json. Figures, never
 * assertions: the tests do not time anything (issue 4).
 *
 * WASM's thread count is fixed once per process, so with several `--wasm-threads` values (or several
 * `--native-conv` values: the convolution addon where available, or XNNPACK's) each
 * configuration runs in a child process of its own (one after another), and this one merges their rows
 * into one table and file; the sweep table then also compares the batched sweep in each configuration
 * with the one-unit runs in each (`sweep/seq` across configurations): threads speed up batches, while
 * lone small runs switch them off, so the best setting for each side is what a deployment would see.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { nativeConvActive, nativeConvInstructionSet } from '@featurevis/engine/backends';
import { benchGroups } from './groups/index.ts';
import type { BenchRow } from './groups/types.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    backends: { type: 'string', default: 'cpu,wasm' },
    groups: { type: 'string' },
    out: { type: 'string', default: fileURLToPath(new URL('./results/latest.json', import.meta.url)) },
    // Threads for WASM, comma-separated; `auto` (the default): every core.
    'wasm-threads': { type: 'string', default: 'auto' },
    // WASM convolutions, comma-separated: auto (the convolution addon where available), off (XNNPACK).
    'native-conv': { type: 'string', default: 'auto' },
  },
});

const threadChoices = (args['wasm-threads'] ?? 'auto').split(',').filter(Boolean).map((value) => {
  if (value === 'auto') return undefined;
  const threads = Number(value);
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`--wasm-threads: "${value}" is neither a positive integer nor auto`);
  return threads;
});
const nativeConvChoices = (args['native-conv'] ?? 'auto').split(',').filter(Boolean).map((value) => {
  if (value !== 'auto' && value !== 'off') throw new Error(`--native-conv: "${value}" is neither auto nor off`);
  return value;
});
const options = {
  quick: args.quick ?? false, backends: (args.backends ?? 'cpu,wasm').split(',').filter(Boolean), wasmThreads: threadChoices[0],
  nativeConv: nativeConvChoices[0] !== 'off',
};
const selected = args.groups ? benchGroups.filter((g) => args.groups!.split(',').includes(g.name)) : benchGroups;

const fixed = (digits: number) => (value: number | undefined) => (value != null ? value.toFixed(digits) : '');

const columns: Array<[string, (row: BenchRow) => string]> = [
  ['backend', (r) => r.backend],
  ['threads', (r) => (r.threads != null ? String(r.threads) : '')],
  ['convolutions', (r) => r.convolutions ?? ''],
  ['variant', (r) => r.variant],
  ['model', (r) => r.model ?? ''],
  ['size', (r) => (r.imageSizePx != null ? `${r.imageSizePx}px` : '')],
  ['batch', (r) => (r.batch != null ? String(r.batch) : '')],
  ['steps', (r) => (r.steps != null ? String(r.steps) : '')],
  ['forward ms', (r) => fixed(1)(r.forwardMs)],
  ['step ms', (r) => fixed(1)(r.stepMs)],
  ['step/fwd', (r) => fixed(2)(r.stepToForwardRatio)],
  ['step/fastest fwd', (r) => fixed(2)(r.stepToFastestForwardRatio)],
  ['engine step ms', (r) => fixed(1)(r.engineStepMs)],
  ['fwd GFLOP/s', (r) => fixed(2)(r.forwardGflopPerS)],
  ['step GFLOP/s', (r) => fixed(2)(r.stepGflopPerS)],
  ['units', (r) => (r.units != null ? String(r.units) : '')],
  ['batched ms', (r) => fixed(0)(r.sweepBatchedMs)],
  ['sequential ms', (r) => fixed(0)(r.sweepSequentialMs)],
  ['sweep/seq', (r) => fixed(2)(r.sweepVsSequentialRatio)],
  ['cold first ms', (r) => fixed(0)(r.sweepColdFirstRunMs)],
  ['end-to-end ms', (r) => fixed(1)(r.endToEndMs)],
  ['compute ms', (r) => fixed(1)(r.computeMs)],
  ['queue ms', (r) => fixed(1)(r.queueOverheadMs)],
  ['req/s', (r) => fixed(0)(r.apiRequestsPerSecond)],
  ['p50 ms', (r) => fixed(1)(r.apiLatencyP50Ms)],
  ['p99 ms', (r) => fixed(1)(r.apiLatencyP99Ms)],
  ['accept ms', (r) => fixed(0)(r.sweepAcceptMs)],
  ['sweep done ms', (r) => fixed(0)(r.serviceSweepMs)],
  ['jobs done ms', (r) => fixed(0)(r.serviceJobsMs)],
  ['sweep/jobs', (r) => fixed(2)(r.serviceSweepVsJobsRatio)],
  ['grouped jobs ms', (r) => fixed(0)(r.serviceGroupedJobsMs)],
  ['grouped/jobs', (r) => fixed(2)(r.serviceGroupedVsJobsRatio)],
  ['engine ms', (r) => fixed(0)(r.serviceEngineMs)],
  ['engine share', (r) => fixed(2)(r.serviceEngineShare)],
  ['urls', (r) => (r.urls != null ? String(r.urls) : '')],
  ['urls ms', (r) => fixed(1)(r.urlsMs)],
  ['µs/url', (r) => fixed(0)(r.usPerUrl)],
  ['error', (r) => r.error?.slice(0, 70) ?? ''],
];

/** One table per group, with the columns that group filled; notes and profiles underneath. */
function printTable(group: string, rows: BenchRow[]): void {
  if (rows.length === 0) return;
  const used = columns.filter(([, cell]) => rows.some((row) => cell(row) !== ''));
  const widths = used.map(([title, cell]) => Math.max(title.length, ...rows.map((row) => cell(row).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join(' | ').trimEnd();
  console.log(`\n## ${group}\n`);
  console.log(line(used.map(([title]) => title)));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const row of rows) console.log(line(used.map(([, cell]) => cell(row))));
  for (const row of rows) {
    const extra = [row.topStepKernels ? `slowest kernels of a step: ${row.topStepKernels}` : '', row.note ?? ''].filter(Boolean).join('; ');
    if (extra) console.log(`- ${row.backend} · ${row.model ?? row.variant}${row.model ? ` · ${row.variant}` : ''}: ${extra}`);
  }
}

/** `argv` without the named options, in either form (`--name=value` or `--name value`). */
function withoutOptions(argv: string[], names: string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = names.find((n) => argv[i] === n || argv[i]!.startsWith(`${n}=`));
    if (name == null) kept.push(argv[i]!);
    else if (argv[i] === name) i++; // its value is the next argument
  }
  return kept;
}

/** Runs this script once per configuration (thread count × convolutions), each in its own process; returns their rows in order. */
async function rowsPerConfiguration(): Promise<BenchRow[]> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'featurevis-bench-'));
  try {
    const collected: BenchRow[] = [];
    const threadValues = (args['wasm-threads'] ?? 'auto').split(',').filter(Boolean);
    const configurations = nativeConvChoices.flatMap((nativeConv) => threadValues.map((threads) => ({ threads, nativeConv })));
    for (const [i, { threads, nativeConv }] of configurations.entries()) {
      const out = path.join(folder, `${i}.json`);
      const forwarded = withoutOptions(process.argv.slice(2), ['--wasm-threads', '--native-conv', '--out']);
      console.error(`-- WASM threads: ${threads}, native convolutions: ${nativeConv}`);
      execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...forwarded, `--wasm-threads=${threads}`, `--native-conv=${nativeConv}`, `--out=${out}`], { stdio: ['ignore', 'ignore', 'inherit'] });
      collected.push(...(JSON.parse(await readFile(out, 'utf8')) as { rows: BenchRow[] }).rows);
    }
    return collected;
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

/** step/fastest fwd against the fastest forward of the same model and batch in any configuration (each child saw only its own). */
function fastestForwardAcrossConfigurations(stepRows: BenchRow[]): void {
  for (const row of stepRows) {
    const forwards = stepRows.filter((other) => other.model === row.model && other.batch === row.batch && other.forwardMs != null).map((other) => other.forwardMs!);
    if (row.stepMs != null && forwards.length > 0) row.stepToFastestForwardRatio = row.stepMs / Math.min(...forwards);
  }
}

/** A configuration's name in the cross rows: its threads, and its convolutions where the run compared them. */
const configurationName = (row: BenchRow) => `${row.threads} thread(s)${nativeConvChoices.length > 1 && row.convolutions ? ` (${row.convolutions})` : ''}`;

/** Sweep rows across configurations: each batched sweep against each other configuration's one-unit runs. */
function crossConfigurationSweepRows(sweepRows: BenchRow[]): BenchRow[] {
  const measured = sweepRows.filter((row) => row.threads != null && row.sweepBatchedMs != null && row.sweepSequentialMs != null);
  const crossed: BenchRow[] = [];
  for (const batched of measured) {
    for (const sequential of measured) {
      if (batched === sequential || batched.backend !== sequential.backend || batched.batch !== sequential.batch) continue;
      if (batched.threads === sequential.threads && batched.convolutions === sequential.convolutions) continue;
      crossed.push({
        ...batched, variant: `batched on ${configurationName(batched)} vs one-unit runs on ${configurationName(sequential)}`,
        sweepSequentialMs: sequential.sweepSequentialMs, sweepVsSequentialRatio: batched.sweepBatchedMs! / sequential.sweepSequentialMs!,
        note: 'across two runs of this invocation (one process per configuration, one after the other)',
      });
    }
  }
  return crossed;
}

/** What runs WASM's convolutions in this process at the moment (a group initialises the backend first). */
function convolutionsNow(): string {
  if (!nativeConvActive()) return 'XNNPACK';
  return nativeConvInstructionSet() === 'avx2' ? 'AVX2' : 'AVX-512';
}

const rows: BenchRow[] = [];
const startedAt = new Date().toISOString();
// Other processes share this machine's cores: the load average says how much they did during the run.
const loadAverageAtStart = os.loadavg();
if (threadChoices.length > 1 || nativeConvChoices.length > 1) {
  rows.push(...await rowsPerConfiguration());
  fastestForwardAcrossConfigurations(rows.filter((row) => row.group === 'step-cost'));
  rows.push(...crossConfigurationSweepRows(rows.filter((row) => row.group === 'sweep')));
} else {
  for (const group of selected) {
    console.error(`${group.name}:`);
    // WASM rows say what ran their convolutions (the engine's choice in this process; the service
    // group's worker threads choose the same way from the same setting).
    await group.run(options, (row) => rows.push(row.backend === 'wasm' ? { ...row, convolutions: convolutionsNow() } : row));
  }
}
for (const group of selected) printTable(group.name, rows.filter((row) => row.group === group.name));
console.log(`\n${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}; load average (1 min) ${loadAverageAtStart[0].toFixed(2)} at the start, ${os.loadavg()[0].toFixed(2)} at the end`);

const cpus = os.cpus();
const result = {
  startedAt,
  finishedAt: new Date().toISOString(),
  quick: options.quick,
  wasmThreads: args['wasm-threads'],
  nativeConv: args['native-conv'],
  machine: { cpuModel: cpus[0]?.model ?? 'unknown', cpuCount: cpus.length, availableParallelism: os.availableParallelism(), totalMemoryGiB: os.totalmem() / 2 ** 30, platform: `${os.platform()} ${os.release()}`, node: process.version, loadAverageAtStart, loadAverageAtEnd: os.loadavg() },
  rows,
};
await mkdir(path.dirname(path.resolve(args.out!)), { recursive: true });
await writeFile(args.out!, JSON.stringify(result, null, 2) + '\n');
console.log(`\nwrote ${args.out}`);
// Exit explicitly: no handle left open by a library (a Redis connection reconnecting to the stopped
// redis-server, as a worker's once did) may keep the benchmark running after its results are written.
process.exit(0);
