/**
 * Multi-threaded XNNPACK on the WASM backend under Node (backends/wasm/node-threads.ts). The thread
 * count is fixed once per process, so each case runs helpers/threaded-run.ts in a child process:
 * threads actually start (tfjs-backend-wasm alone runs one thread in Node), a small run switches them
 * off and back on (the threadpool global found in tfjs-backend-wasm's code), runs including the
 * project's in-place MaxPoolGrad kernel (in the shared heap) give the same PNG bytes threaded,
 * switched off and single-threaded, and the process exits by itself afterwards (the pthreads are
 * unreferenced).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { nativeConvInstructionSet, nativeConvUnavailableReason } from '@featurevis/engine/backends';
import { skipWithoutShapesA } from './helpers/shapes-a.ts';

const script = fileURLToPath(new URL('./helpers/threaded-run.ts', import.meta.url));

interface ChildReport {
  threads: number; threadsFromPixels: number | null; nativeConv: { active: boolean; instructionSet?: string; xnnpackThreads?: number } | null;
  duringSmallRun: number; afterSmallRun: number; pngSha256: string[];
}

function runWithThreads(threads: number, env: Record<string, string> = {}): ChildReport {
  const child = spawnSync(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, ...env, WASM_THREADS: String(threads) },
    encoding: 'utf8',
    // A pool that kept the process alive would hang here: bounded, and reported as a failure below.
    timeout: 120_000,
  });
  assert.equal(child.signal, null, `the child did not exit by itself within 120 s (threads ${threads}); stderr: ${child.stderr}`);
  assert.equal(child.status, 0, `child failed (threads ${threads}): ${child.stderr}`);
  const lines = child.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as ChildReport;
}

const xnnpack = { NATIVE_CONV: '0' };

test('WASM runs on two threads in Node, switches them off for small runs, gives the same PNG bytes as one thread, and exits by itself', { skip: skipWithoutShapesA }, () => {
  const single = runWithThreads(1, xnnpack);
  const threaded = runWithThreads(2, xnnpack);
  assert.equal(threaded.nativeConv?.active, false);
  assert.equal(single.threads, 1);
  assert.equal(single.threadsFromPixels, null, 'nothing to switch on one thread');
  assert.equal(threaded.threads, 2, 'the threaded build did not start two threads');
  assert.equal(threaded.threadsFromPixels, 4096, 'the threads cannot be switched off');
  // tfjs-backend-wasm's get_threads_count answers −1 while its threadpool global is NULL.
  assert.deepEqual([threaded.duringSmallRun, threaded.afterSmallRun], [-1, 2]);
  assert.equal(threaded.pngSha256.length, 5);
  assert.deepEqual(threaded.pngSha256, single.pngSha256);
});

test('where the threaded build fails to load, WASM starts on one thread and runs as before', { skip: skipWithoutShapesA }, () => {
  const single = runWithThreads(1, xnnpack);
  const fallen = runWithThreads(2, { ...xnnpack, BREAK_THREADED_BUILD: '1' });
  assert.equal(fallen.threads, 1);
  assert.equal(fallen.threadsFromPixels, null);
  assert.deepEqual(fallen.pngSha256, single.pngSha256);
});

test('with the convolution addon, convolutions run on its two threads, XNNPACK on one, with the same PNG bytes as one thread', { skip: skipWithoutShapesA || (nativeConvUnavailableReason() ?? false) }, () => {
  const single = runWithThreads(1);
  const threaded = runWithThreads(2);
  assert.deepEqual(threaded.nativeConv, { active: true, instructionSet: nativeConvInstructionSet(), xnnpackThreads: 1 });
  assert.equal(threaded.threads, 2);
  assert.equal(threaded.threadsFromPixels, null, 'XNNPACK runs one thread: nothing to switch');
  assert.equal(threaded.pngSha256.length, 5);
  // The addon computes each output the same way however the rows are shared out.
  assert.deepEqual(threaded.pngSha256, single.pngSha256);
});
