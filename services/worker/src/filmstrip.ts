/**
 * A filmstrip: the images of a comparison side by side, one column per model (in `compare.models`
 * order, so checkpoints read left to right as training goes on) and one row per batch item. Decoded and
 * encoded with the engine's pngjs helpers; every tile is the same size (the job's image size).
 */
import { decodePng, encodePng } from '@featurevis/engine';

/** `columns[k][i]` is model k's image of batch item i (PNG bytes). */
export function filmstrip(columns: Uint8Array[][]): { png: Uint8Array; width: number; height: number } {
  const tiles = columns.map((images) => images.map((png) => decodePng(png)));
  const { width: tileWidth, height: tileHeight } = tiles[0]![0]!;
  const rows = Math.max(...tiles.map((column) => column.length));
  const width = tileWidth * tiles.length;
  const height = tileHeight * rows;
  const rgb = new Float32Array(width * height * 3).fill(1); // a missing tile stays white
  tiles.forEach((column, k) => column.forEach((tile, i) => {
    if (tile.width !== tileWidth || tile.height !== tileHeight) throw new RangeError(`filmstrip tile ${k},${i} is ${tile.width}×${tile.height}, not ${tileWidth}×${tileHeight}`);
    for (let y = 0; y < tileHeight; y++) {
      const from = y * tileWidth * 3;
      rgb.set(tile.rgb.subarray(from, from + tileWidth * 3), ((i * tileHeight + y) * width + k * tileWidth) * 3);
    }
  }));
  return { png: encodePng(rgb, width, height), width, height };
}
