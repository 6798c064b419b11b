/**
 * The trained bundled classifier `shapes-a` on the WASM backend, loaded once per test file. Tests that
 * need it skip with `skipWithoutShapesA` until models/shapes-a exists (bundled-models.test.ts requires it).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../../src/backends/index.ts';
import { loadModelFromDirectory } from '../../src/models/index.ts';
import type { LoadedModel } from '../../src/types.ts';

export const shapesDir = fileURLToPath(new URL('../../../../models/shapes-a/', import.meta.url));
export const skipWithoutShapesA: false | string = existsSync(`${shapesDir}model.json`) ? false : 'models/shapes-a is not there yet';

let loaded: LoadedModel | undefined;
export async function shapesA(): Promise<LoadedModel> {
  if (!loaded) {
    await initBackend('wasm');
    loaded = await loadModelFromDirectory(shapesDir, 'shapes-a');
  }
  return loaded;
}

/** Frees the cached model (a test that checks every tensor is freed ends with it). */
export function disposeShapesA(): void {
  loaded?.dispose();
  loaded = undefined;
}
