/**
 * The engine's hand-written WebAssembly kernels ship as generated `.wasm.ts` modules (base64 bytes)
 * next to their `.wat` sources; this checks each one is what `npm run build:wasm` makes of its source,
 * so a change to a `.wat` file cannot land without the bytes the engine actually runs.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { compiledModuleText, watSources } from '../scripts/build-wasm-kernels.ts';

test('every .wat kernel has its compiled .wasm.ts module, up to date', async () => {
  const sources = await watSources();
  assert.ok(sources.length >= 1, 'no .wat sources found');
  for (const watFile of sources) {
    const committed = await readFile(watFile.replace(/\.wat$/, '.wasm.ts'), 'utf8');
    assert.equal(committed, await compiledModuleText(watFile), `${watFile}: run npm run build:wasm`);
  }
});
