/**
 * The classes of the procedural "shapes" image set, each with the visual cause that defines it. The
 * causes are known by construction, so a visualisation of a class (or of a unit that detects it) can be
 * checked against what should appear: a ring or disc, stripes of one orientation, red, a cross...
 * Colour is kept out of the shape and texture classes on purpose (their foregrounds are never red,
 * their backgrounds are muted), so that colour alone decides only the `red` class.
 */
import { hsv, Raster, type Region, type Rgb } from './raster.ts';

/** A seeded uniform source in [0, 1). */
export type Uniform = () => number;

export interface ShapeClass {
  label: string;
  /** What defines the class, in words: what a faithful visualisation of it should show. */
  cause: string;
  /** Visibly different sub-kinds; one entry for a class with a single kind. */
  variants: readonly string[];
  draw(raster: Raster, random: Uniform, variant: number): void;
}

const between = (random: Uniform, low: number, high: number) => low + (high - low) * random();

/** Low saturation, dark: a background that never reads as a colour of its own. */
function mutedBackground(random: Uniform): Rgb {
  return hsv(between(random, 0, 360), between(random, 0, 0.25), between(random, 0.1, 0.45));
}

/** Bright and saturated, any hue but red (red is the `red` class's cause and the plus-red cross's). */
function vividNonRed(random: Uniform): Rgb {
  return hsv(between(random, 45, 315), between(random, 0.55, 1), between(random, 0.7, 1));
}

/** Half filled, half a thick outline: the class is the shape, not how it is drawn. */
function filledOrOutline(random: Uniform, outer: Region, inner: Region): Region {
  return random() < 0.5 ? outer : (u, v) => outer(u, v) && !inner(u, v);
}

const OUTLINE_THICKNESS = [0.07, 0.11] as const;

function circle(raster: Raster, random: Uniform): void {
  raster.fill(mutedBackground(random));
  const radius = between(random, 0.18, 0.38);
  const [cx, cy] = [between(random, radius + 0.04, 0.96 - radius), between(random, radius + 0.04, 0.96 - radius)];
  const inner = radius - between(random, ...OUTLINE_THICKNESS);
  const within = (r: number): Region => (u, v) => (u - cx) ** 2 + (v - cy) ** 2 <= r * r;
  raster.paint(filledOrOutline(random, within(radius), within(inner)), vividNonRed(random));
}

function square(raster: Raster, random: Uniform): void {
  raster.fill(mutedBackground(random));
  const half = between(random, 0.16, 0.34);
  const [cx, cy] = [between(random, half + 0.04, 0.96 - half), between(random, half + 0.04, 0.96 - half)];
  const inner = half - between(random, ...OUTLINE_THICKNESS);
  const within = (h: number): Region => (u, v) => Math.abs(u - cx) <= h && Math.abs(v - cy) <= h;
  raster.paint(filledOrOutline(random, within(half), within(inner)), vividNonRed(random));
}

function triangle(raster: Raster, random: Uniform): void {
  raster.fill(mutedBackground(random));
  // Equilateral, any rotation: its circumradius R keeps it inside the image.
  const radius = between(random, 0.22, 0.4);
  const [cx, cy] = [between(random, radius + 0.03, 0.97 - radius), between(random, radius + 0.03, 0.97 - radius)];
  const rotation = between(random, 0, 2 * Math.PI);
  const within = (r: number): Region => {
    const corners = [0, 1, 2].map((k) => [cx + r * Math.cos(rotation + (2 * Math.PI * k) / 3), cy + r * Math.sin(rotation + (2 * Math.PI * k) / 3)]);
    return (u, v) => {
      // Inside when the point is on the same side of all three edges.
      const sides = corners.map(([ax, ay], k) => {
        const [bx, by] = corners[(k + 1) % 3];
        return (bx - ax) * (v - ay) - (by - ay) * (u - ax);
      });
      return sides.every((s) => s >= 0) || sides.every((s) => s <= 0);
    };
  };
  // The inradius is R/2, so an outline of thickness t leaves an inner triangle of circumradius R - 2t.
  const inner = radius - 2 * between(random, ...OUTLINE_THICKNESS);
  raster.paint(filledOrOutline(random, within(radius), within(inner)), vividNonRed(random));
}

/** Square-wave stripes across the whole image, at `angleDeg` from horizontal (jittered by ±10°). */
function stripes(raster: Raster, random: Uniform, angleDeg: number): void {
  raster.fill(mutedBackground(random));
  const period = between(random, 0.12, 0.25);
  const phase = random();
  const angle = ((angleDeg + between(random, -10, 10)) * Math.PI) / 180;
  // The coordinate across the stripes: v for horizontal stripes, u for vertical ones.
  const across = (u: number, v: number) => v * Math.cos(angle) + u * Math.sin(angle);
  raster.paint((u, v) => (((across(u, v) / period + phase) % 1) + 1) % 1 < 0.5, vividNonRed(random));
}

function checkerboard(raster: Raster, random: Uniform): void {
  raster.fill(mutedBackground(random));
  const cell = between(random, 0.1, 0.2);
  const [ou, ov] = [random(), random()];
  raster.paint((u, v) => (Math.floor(u / cell + ou) + Math.floor(v / cell + ov)) % 2 === 0, vividNonRed(random));
}

function red(raster: Raster, random: Uniform): void {
  raster.fill(hsv(between(random, -12, 12), between(random, 0.75, 1), between(random, 0.6, 1)));
  // A smooth light gradient so the class is "red", not "one flat colour".
  const [gu, gv] = [between(random, -0.25, 0.25), between(random, -0.25, 0.25)];
  raster.shade((u, v) => 0.85 + gu * (u - 0.5) + gv * (v - 0.5));
}

/** Two bars crossing at the centre; rotated 45° it is an ×. */
function cross(raster: Raster, random: Uniform, variant: number): void {
  raster.fill(mutedBackground(random));
  const arm = between(random, 0.24, 0.36);
  const halfThickness = between(random, 0.05, 0.08);
  const [cx, cy] = [between(random, arm + 0.04, 0.96 - arm), between(random, arm + 0.04, 0.96 - arm)];
  const diagonal = variant === 1;
  const color = diagonal ? hsv(between(random, 210, 240), between(random, 0.75, 1), between(random, 0.75, 1)) : hsv(between(random, -8, 8), between(random, 0.8, 1), between(random, 0.75, 1));
  raster.paint((u, v) => {
    let [x, y] = [u - cx, v - cy];
    if (diagonal) [x, y] = [(x + y) / Math.SQRT2, (x - y) / Math.SQRT2];
    return (Math.abs(x) <= halfThickness && Math.abs(y) <= arm) || (Math.abs(y) <= halfThickness && Math.abs(x) <= arm);
  }, color);
}

export const CLASSES: readonly ShapeClass[] = [
  { label: 'circle', cause: 'shape: one disc or ring, any non-red colour, on a muted background', variants: ['circle'], draw: circle },
  { label: 'square', cause: 'shape: one axis-aligned square, filled or outlined, any non-red colour', variants: ['square'], draw: square },
  { label: 'triangle', cause: 'shape: one equilateral triangle at any rotation, filled or outlined, any non-red colour', variants: ['triangle'], draw: triangle },
  { label: 'horizontal-stripes', cause: 'orientation: stripes within 10° of horizontal across the whole image', variants: ['horizontal-stripes'], draw: (r, random) => stripes(r, random, 0) },
  { label: 'vertical-stripes', cause: 'orientation: stripes within 10° of vertical across the whole image', variants: ['vertical-stripes'], draw: (r, random) => stripes(r, random, 90) },
  { label: 'checkerboard', cause: 'texture: a checkerboard of square cells across the whole image', variants: ['checkerboard'], draw: checkerboard },
  { label: 'red', cause: 'colour: the whole image is saturated red with smooth shading, no shape', variants: ['red'], draw: red },
  { label: 'cross', cause: 'two sub-kinds: an upright red "+" or a diagonal blue "×" (for multifaceted visualisation)', variants: ['plus-red', 'x-blue'], draw: cross },
];

export const LABELS: readonly string[] = CLASSES.map((c) => c.label);
