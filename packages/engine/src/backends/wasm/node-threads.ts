/**
 * Multi-threaded XNNPACK for tfjs-backend-wasm under Node (issue 4): its threaded SIMD build runs
 * convolutions and matrix products on a pthreadpool, 1.6–2× faster on 2 cores for a batch-64 step.
 *
 * tfjs-backend-wasm 4.22 ships that build (`tfjs-backend-wasm-threaded-simd.wasm`) but never uses it in
 * Node: its `WASM_HAS_MULTITHREAD_SUPPORT` flag answers false there (tfjs issue 3830), for three
 * reasons this module works around while the backend initialises, and only then:
 *
 * 1. Emscripten starts each pthread as `new Worker(url)` where url is a `blob:` URL of the pthread
 *    script (tfjs inlines it as `wasmWorkerContents`); Node's `worker_threads.Worker` cannot load a
 *    blob URL. `PthreadWorker` below is a `worker_threads.Worker` that runs that same script (taken from
 *    the package's Node bundle, where it is a string literal) with `eval: true`, and is put in place of
 *    the global `Worker` the Emscripten glue assigns and then constructs.
 * 2. The first message to each pthread carries the main script as a `Blob`, which the pthread loads
 *    with `importScripts(URL.createObjectURL(blob))`; Node can neither read a blob URL from a file
 *    path nor read a Blob synchronously. `PthreadWorker` reads the Blob's text (asynchronously, holding
 *    back later messages until then) and sends the text, and the pthread's `importScripts` evaluates
 *    it. The main script is the bundle's factory function (`Function.prototype.toString`), so the
 *    bundle's own module-level names it refers to (`require$$0`…: fs, path, perf_hooks, os) are
 *    defined first.
 * 3. The C++ side caps its thread count at half the logical cores (`emscripten_num_logical_cores() / 2`,
 *    "many x86-64 processors have 2 threads per core"), which on a 2-vCPU machine is one thread. The
 *    glue reads the core count from `os.cpus()`; while the backend initialises, that reports twice the
 *    requested threads, so the cap is the requested count.
 *
 * The pthreads are unreferenced (`ref()` is a no-op), so an idle pool never keeps a process alive.
 * What can be is checked before it is relied on; where a check fails (another tfjs-backend-wasm
 * version, no shared WebAssembly memory) `prepareWasmThreads` returns null and the backend runs
 * single-threaded as before, and where the threaded build then fails to load, select.ts starts the
 * single-threaded one. Once the backend is up, the global `Worker` and `os.cpus` are restored.
 * Measured with tfjs-backend-wasm 4.22 under Node 20 (packages/engine/test/wasm-threads.test.ts).
 *
 * Why not a library: no maintained package runs Emscripten pthread builds from blob URLs in Node
 * (`web-worker` emulates the Web Worker API over worker_threads but loads scripts by URL only from
 * file: and data: URLs, and knows nothing of the Blob-carried main script).
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker as NodeWorker, type TransferListItem } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';

const require = createRequire(import.meta.url);

/** The Node bundle of tfjs-backend-wasm: the code that runs, and where the pthread script is inlined. */
function wasmBundlePath(): string {
  return require.resolve('@tensorflow/tfjs-backend-wasm');
}

/** The pthread script tfjs-backend-wasm inlines as a string literal, or null if it is not found. */
function pthreadScript(bundlePath: string): string | null {
  const bundle = readFileSync(bundlePath, 'utf8');
  const literal = /var wasmWorkerContents = ("(?:[^"\\]|\\.)*");/.exec(bundle)?.[1];
  if (literal == null) return null;
  // As tfjs does before making its Blob: newlines inside the script's own string literals stay escaped.
  return (JSON.parse(literal) as string).replace(/\n/g, '\\n');
}

/** The script each pthread evaluates: the bundle's module-level names, the pthread script, importScripts of text. */
function pthreadBootstrap(bundlePath: string, script: string): string {
  return [
    "var require$$0 = require('fs'), require$$1 = require('path'), require$$3 = require('perf_hooks'), require$$4 = require('os');",
    'var commonjsGlobal = globalThis;',
    `var _scriptDir = ${JSON.stringify(bundlePath)};`,
    script,
    // The pthread script's Node branch defines importScripts(file); the main script arrives as text (below).
    ';importScripts = function (code) { (0, eval)(code); };',
  ].join('\n');
}

interface EmscriptenMessage { cmd?: string; urlOrBlob?: unknown }

function makePthreadWorkerClass(bootstrap: string) {
  return class PthreadWorker extends NodeWorker {
    /** Messages posted while the main script's Blob is being read; sent in order once it is. */
    private held: Array<[unknown, readonly TransferListItem[] | undefined]> | null = null;

    constructor() {
      super(bootstrap, { eval: true });
      this.unref();
    }

    /** Emscripten refs a pthread's worker while it runs; the pool's threads live as long as the backend. */
    override ref(): void {}

    override postMessage(message: unknown, transfer?: readonly TransferListItem[]): void {
      if (this.held) { this.held.push([message, transfer]); return; }
      const data = message as EmscriptenMessage | null;
      if (data?.cmd === 'load' && data.urlOrBlob instanceof Blob) {
        this.held = [];
        data.urlOrBlob.text().then((text) => {
          super.postMessage({ ...data, urlOrBlob: text }, transfer);
          const held = this.held ?? [];
          this.held = null;
          for (const [m, t] of held) this.postMessage(m, t);
        }, (error: unknown) => this.emit('error', error));
        return;
      }
      super.postMessage(message, transfer);
    }
  };
}

/** Shared WebAssembly memory, which Emscripten pthreads need. */
function hasSharedWasmMemory(): boolean {
  try {
    return new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer;
  } catch {
    return false;
  }
}

/**
 * Prepares tfjs-backend-wasm to start `threads` threads when it next initialises, and returns a
 * function to call once it has (successfully or not) that undoes the temporary changes. Returns null
 * (and changes nothing) where threads cannot be had; then the backend initialises single-threaded.
 * `setThreadsCount` is tfjs-backend-wasm's own.
 */
export function prepareWasmThreads(threads: number, setThreadsCount: (threads: number) => void): (() => void) | null {
  if (threads < 2 || !hasSharedWasmMemory()) return null;
  const bundlePath = wasmBundlePath();
  const script = pthreadScript(bundlePath);
  if (script == null || !script.includes('importScripts(e.data.urlOrBlob)')) return null;
  const PthreadWorker = makePthreadWorkerClass(pthreadBootstrap(path.resolve(bundlePath), script));
  const previousWorker = Object.getOwnPropertyDescriptor(globalThis, 'Worker');
  // The glue assigns `global.Worker = worker_threads.Worker` before it constructs the pool: ignore that.
  Object.defineProperty(globalThis, 'Worker', { get: () => PthreadWorker, set: () => {}, configurable: true });
  const cpus = os.cpus;
  os.cpus = () => Array.from({ length: 2 * threads }, (_, i) => cpus()[i % Math.max(1, cpus().length)]);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  setThreadsCount(threads);
  return () => {
    os.cpus = cpus;
    if (previousWorker) Object.defineProperty(globalThis, 'Worker', previousWorker);
    else delete (globalThis as { Worker?: unknown }).Worker;
  };
}

// ---- Switching the threads off for small runs -------------------------------------------------------

/**
 * tfjs-backend-wasm keeps its XNNPACK threadpool in one C++ global (`tfjs::backend::threadpool`) and
 * hands it to every operator it runs; XNNPACK runs an operator on the calling thread alone when that
 * pool is NULL. Waking the pool's threads costs more than it saves on small kernels: measured on 2
 * cores, 32-px shapes-a engine steps were 5–15 % slower on two threads than on one at batch 1 and 2,
 * and 1.5–1.6× faster at batch 64. So the engine runs small workloads with the global set to NULL and
 * large ones with the pool (`useWasmThreadsFor`; the threshold is select.ts's DEFAULT_WASM_THREADS_MIN_PIXELS).
 *
 * The global's address is not exported; it is read from the code of the exported `get_threads_count`
 * (which begins `i32.const ADDR; i32.load`: it loads the global and returns −1 when it is NULL), and
 * then verified by that same function before anything relies on it: with the pool it answers the
 * thread count, with 0 written at the address −1, and the pool again once restored. Any mismatch
 * (another build) and the switch is not offered: the threads simply stay on.
 */

/** A minimal reader of the WebAssembly binary format: only what finding one function's body needs. */
class WasmReader {
  offset = 0;
  constructor(readonly bytes: Uint8Array) {}
  byte(): number { return this.bytes[this.offset++]!; }
  u32(): number {
    let result = 0;
    for (let shift = 0; ; shift += 7) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
    }
  }
  i32(): number {
    let result = 0;
    let shift = 0;
    let b: number;
    do { b = this.byte(); result |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80);
    return shift < 32 && (b & 0x40) ? result | (-1 << shift) : result;
  }
  name(): string {
    const length = this.u32();
    const text = new TextDecoder().decode(this.bytes.subarray(this.offset, this.offset + length));
    this.offset += length;
    return text;
  }
  limits(): void {
    const flags = this.u32();
    this.u32();
    if (flags & 1) this.u32();
  }
}

/** The memory address an exported function loads first (`i32.const a; i32.load offset=o` → a + o), or null. */
export function firstLoadAddress(wasm: Uint8Array, exportName: string): number | null {
  const r = new WasmReader(wasm);
  if (wasm.length < 8 || wasm[0] !== 0 || wasm[1] !== 0x61 || wasm[2] !== 0x73 || wasm[3] !== 0x6d) return null; // "\0asm"
  r.offset = 8; // magic and version
  let importedFunctions = 0;
  let functionIndex: number | null = null;
  while (r.offset < wasm.length) {
    const id = r.byte();
    const size = r.u32();
    const end = r.offset + size;
    if (id === 2) { // imports
      for (let n = r.u32(); n > 0; n--) {
        r.name(); r.name();
        const kind = r.byte();
        if (kind === 0) { r.u32(); importedFunctions++; } else if (kind === 1) { r.byte(); r.limits(); } else if (kind === 2) r.limits(); else if (kind === 3) { r.byte(); r.byte(); } else { r.byte(); r.u32(); }
      }
    } else if (id === 7) { // exports
      for (let n = r.u32(); n > 0; n--) {
        const name = r.name();
        const kind = r.byte();
        const index = r.u32();
        if (kind === 0 && name === exportName) functionIndex = index;
      }
    } else if (id === 10 && functionIndex != null) { // code
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        const bodySize = r.u32();
        const bodyEnd = r.offset + bodySize;
        if (i === functionIndex - importedFunctions) {
          for (let groups = r.u32(); groups > 0; groups--) { r.u32(); r.byte(); } // local declarations
          if (r.byte() !== 0x41) return null; // i32.const
          const base = r.i32();
          if (r.byte() !== 0x28) return null; // i32.load
          r.u32(); // alignment
          return base + r.u32();
        }
        r.offset = bodyEnd;
      }
      return null;
    }
    r.offset = end;
  }
  return null;
}

interface ThreadedWasmModule { wasmMemory?: WebAssembly.Memory; tfjs?: { getThreadsCount(): number } }

/** Sets the threadpool global to the pool (on) or NULL (off); null where it could not be located and verified. */
let threadSwitch: ((on: boolean) => void) | null = null;

/**
 * Locates and verifies the threadpool global of a threaded tfjs-backend-wasm that runs `threads`
 * threads (`module`: the backend's Emscripten module, `BackendWasm.wasm`). Returns whether the
 * switch is available.
 */
export function installWasmThreadSwitch(module: unknown, threads: number): boolean {
  threadSwitch = null;
  const { wasmMemory, tfjs: api } = (module ?? {}) as ThreadedWasmModule;
  const shared = wasmMemory instanceof WebAssembly.Memory && (wasmMemory.buffer as unknown) instanceof SharedArrayBuffer;
  if (!shared || typeof api?.getThreadsCount !== 'function') return false;
  let address: number | null;
  try {
    address = firstLoadAddress(readFileSync(path.join(path.dirname(wasmBundlePath()), 'tfjs-backend-wasm-threaded-simd.wasm')), 'get_threads_count');
  } catch {
    return false;
  }
  if (address == null || address % 4 !== 0 || address + 4 > wasmMemory.buffer.byteLength) return false;
  const slot = address / 4;
  const words = () => new Int32Array(wasmMemory.buffer); // a fresh view: the heap may have grown
  const pool = words()[slot]!;
  if (pool === 0 || api.getThreadsCount() !== threads) return false;
  words()[slot] = 0;
  const whenNull = api.getThreadsCount();
  words()[slot] = pool;
  if (whenNull !== -1 || api.getThreadsCount() !== threads) return false;
  threadSwitch = (on) => { words()[slot] = on ? pool : 0; };
  return true;
}

/** Whether runs can switch the WASM threads off (`useWasmThreadsFor`). */
export function wasmThreadSwitchAvailable(): boolean {
  return threadSwitch != null;
}

/** Pixels per step (batch × height × width) from which a run keeps the WASM threads on. */
let minPixelsForThreads = 0;

export function setWasmThreadsMinPixels(pixels: number): void {
  minPixelsForThreads = pixels;
}

/**
 * For a run of `pixels` image pixels a step (batch × height × width): switches the WASM threads off
 * when the run is smaller than the threshold, and returns the function that switches them back on.
 * Does nothing where there is no switch (single-threaded, or another backend).
 */
export function useWasmThreadsFor(pixels: number): () => void {
  const turnOff = threadSwitch;
  if (turnOff == null || pixels >= minPixelsForThreads) return () => {};
  turnOff(false);
  return () => turnOff(true);
}
