/**
 * Writes a PNG contact sheet of the procedural shapes set, one row per class, to look at what the
 * bundled models were trained on: node --import tsx scripts/training/preview-shapes.ts out.png [sizePx]
 */
import { writeFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { generateShapes, CLASSES } from '../../packages/engine/src/datasets/index.ts';

const [outFile = 'shapes-preview.png', sizeArg = '32'] = process.argv.slice(2);
const sizePx = Number(sizeArg);
const perClass = 8;
const scale = Math.max(1, Math.round(96 / sizePx));
const classes = CLASSES.length;
const batch = generateShapes({ count: classes * perClass, seed: 7, sizePx });
const cellPx = sizePx * scale;
const png = new PNG({ width: perClass * cellPx, height: classes * cellPx });
for (let k = 0; k < batch.count; k++) {
  // Images take the classes in turn, so image k is of class k % classes.
  const [row, column] = [k % classes, Math.floor(k / classes)];
  for (let y = 0; y < cellPx; y++) {
    for (let x = 0; x < cellPx; x++) {
      const source = (k * sizePx * sizePx + Math.floor(y / scale) * sizePx + Math.floor(x / scale)) * 3;
      const target = ((row * cellPx + y) * png.width + column * cellPx + x) * 4;
      for (let c = 0; c < 3; c++) png.data[target + c] = Math.round(batch.images[source + c] * 255);
      png.data[target + 3] = 255;
    }
  }
}
writeFileSync(outFile, PNG.sync.write(png));
console.log(`wrote ${outFile}: rows ${CLASSES.map((c) => c.label).join(', ')}`);
