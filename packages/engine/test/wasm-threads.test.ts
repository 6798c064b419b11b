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
import { skipWithoutShapesA } from './helpers/shapes-a.ts';

const script = fileURLToPath(new URL('./helpers/threaded-run.ts', import.meta.url));

interface ChildReport { threads: number; threadsFromPixels: number | null; duringSmallRun: number; afterSmallRun: number; pngSha256: string[] }

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

test('WASM runs on two threads in Node, switches them off for small runs, gives the same PNG bytes as one thread, and exits by itself', { skip: skipWithoutShapesA }, () => {
  const single = runWithThreads(1);
  const threaded = runWithThreads(2);
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
  const single = runWithThreads(1);
  const fallen = runWithThreads(2, { BREAK_THREADED_BUILD: '1' });
  assert.equal(fallen.threads, 1);
  assert.equal(fallen.threadsFromPixels, null);
  assert.deepEqual(fallen.pngSha256, single.pngSha256);
});
