/**
 * A tiny float RGB raster for drawing the procedural images. Shapes are described in unit coordinates
 * (u, v in [0,1], v downwards) so that one description renders at any size; each pixel is sampled 2×2
 * times so edges are antialiased rather than aliased differently at every size.
 */
export type Rgb = [number, number, number];
/** True where the point (u, v) of the unit square is inside the shape. */
export type Region = (u: number, v: number) => boolean;

const SUBSAMPLES = [0.25, 0.75];

export class Raster {
  readonly pixels: Float32Array;
  constructor(readonly sizePx: number) {
    this.pixels = new Float32Array(sizePx * sizePx * 3);
  }

  fill(color: Rgb): void {
    for (let i = 0; i < this.pixels.length; i += 3) this.pixels.set(color, i);
  }

  /** Blends `color` over the pixels in proportion to how much of each the region covers. */
  paint(region: Region, color: Rgb): void {
    const n = this.sizePx;
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        let covered = 0;
        for (const dy of SUBSAMPLES) for (const dx of SUBSAMPLES) if (region((x + dx) / n, (y + dy) / n)) covered++;
        if (covered === 0) continue;
        const alpha = covered / (SUBSAMPLES.length * SUBSAMPLES.length);
        const i = (y * n + x) * 3;
        for (let c = 0; c < 3; c++) this.pixels[i + c] = this.pixels[i + c] * (1 - alpha) + color[c] * alpha;
      }
    }
  }

  /** Multiplies each pixel's brightness by shade(u, v) (smooth lighting). */
  shade(shade: (u: number, v: number) => number): void {
    const n = this.sizePx;
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const factor = shade((x + 0.5) / n, (y + 0.5) / n);
        const i = (y * n + x) * 3;
        for (let c = 0; c < 3; c++) this.pixels[i + c] *= factor;
      }
    }
  }

  /** Adds independent uniform noise of the given amplitude to every value, then clips to [0,1]. */
  addNoise(amplitude: number, random: () => number): void {
    for (let i = 0; i < this.pixels.length; i++) {
      this.pixels[i] = Math.min(1, Math.max(0, this.pixels[i] + (random() * 2 - 1) * amplitude));
    }
  }
}

/** HSV (hue in degrees) to RGB in [0,1]; the standard hexcone formula, a few lines not worth a library. */
export function hsv(hueDeg: number, saturation: number, value: number): Rgb {
  const h = (((hueDeg % 360) + 360) % 360) / 60;
  const chroma = value * saturation;
  const x = chroma * (1 - Math.abs((h % 2) - 1));
  const [r, g, b] = h < 1 ? [chroma, x, 0] : h < 2 ? [x, chroma, 0] : h < 3 ? [0, chroma, x] : h < 4 ? [0, x, chroma] : h < 5 ? [x, 0, chroma] : [chroma, 0, x];
  const m = value - chroma;
  return [r + m, g + m, b + m];
}
