/**
 * The fixed Fourier magnitudes of the `maco` parameterisation (Fel et al. 2023, "Unlocking Feature
 * Visualization for Deeper Networks with MAgnitude Constrained Optimization").
 *
 * MACO fixes the magnitude to the average spectrum of ImageNet. This repository bundles no ImageNet and
 * its models are trained on the procedural shapes set (src/datasets), so `'shapes'` is the average
 * magnitude spectrum of that set — the natural-image statistics of the only images the bundled models
 * have seen — and `'power-law'` is the dataset-free fallback 1/|f|^decayPower (natural images fall off
 * roughly as 1/f; Field 1987, van der Schaaf & van Hateren 1996).
 *
 * Magnitudes are given per channel of the space the phases are optimised in: with colour decorrelation
 * the shapes images are mapped into the decorrelated space first, as MACO's `imagenet_decorrelated`
 * spectrum is. Layout [3, H, Wf], Wf = ⌊W/2⌋+1 (RealFourierBasis's non-redundant half). Only ratios
 * matter: the rendered image is standardised afterwards.
 */
import * as tf from '@tensorflow/tfjs-core';
import { referenceImages } from '../datasets/index.ts';
import { RealFourierBasis } from './fourier-basis.ts';

export type SpectrumSource = 'shapes' | 'power-law';

/**
 * How many shapes images the average is taken over: 64 covers every class several times (the set
 * balances classes in turn), and the average changes by well under 1 % past it.
 */
export const SHAPES_SPECTRUM_IMAGE_COUNT = 64;
/** The shapes images' seed; fixed, so every run at a size gets the same magnitudes. */
const SHAPES_SPECTRUM_SEED = 0;

/** Computed once per size and colour space: the 64 images and their transform cost far more than a step. */
const shapesSpectrumCache = new Map<string, Float32Array>();

/**
 * The average |DFT| of the bundled shapes images at `sizePx`, centred on the set's mean colour first (so
 * the DC term holds only how much images' mean colours vary, not one fixed tint), optionally mapped
 * through `fromRgb` (a [3,3] right-multiplying colour matrix, the parameterisation's inverse colour map).
 * Cached per (size, matrix); returns a copy the caller may keep.
 */
export function shapesMagnitudeSpectrum(sizePx: number, fromRgb?: tf.Tensor2D): Float32Array {
  const matrix = fromRgb ? Array.from(fromRgb.dataSync()) : null;
  const key = `${sizePx}|${matrix ? matrix.map((v) => v.toPrecision(6)).join(',') : 'rgb'}`;
  let magnitudes = shapesSpectrumCache.get(key);
  if (!magnitudes) {
    magnitudes = computeShapesSpectrum(sizePx, fromRgb);
    shapesSpectrumCache.set(key, magnitudes);
  }
  return magnitudes.slice();
}

function computeShapesSpectrum(sizePx: number, fromRgb: tf.Tensor2D | undefined): Float32Array {
  const basis = new RealFourierBasis(sizePx, sizePx);
  try {
    return tf.tidy(() => {
      const images = referenceImages(SHAPES_SPECTRUM_IMAGE_COUNT, { seed: SHAPES_SPECTRUM_SEED, sizePx });
      const centred = tf.sub(images, tf.mean(images, [0, 1, 2]));
      const colours = fromRgb ? tf.reshape(tf.matMul(tf.reshape(centred, [-1, 3]), fromRgb), centred.shape) : centred;
      const channelsFirst = tf.reshape(tf.transpose(colours, [0, 3, 1, 2]), [SHAPES_SPECTRUM_IMAGE_COUNT * 3, sizePx, sizePx]) as tf.Tensor3D;
      const spectra = tf.reshape(basis.forward(channelsFirst), [SHAPES_SPECTRUM_IMAGE_COUNT, 3, sizePx, 2, basis.frequencyColumns]);
      const [real, imaginary] = tf.unstack(spectra, 3);
      const magnitude = tf.sqrt(tf.add(tf.square(real), tf.square(imaginary)));
      return tf.mean(magnitude, 0).dataSync() as Float32Array;
    });
  } finally {
    basis.dispose();
  }
}

/** 1/max(|f|, 1/size)^decayPower for every channel (the floor keeps the DC term finite, as Lucid's fft_image). */
export function powerLawMagnitudeSpectrum(sizePx: number, decayPower: number): Float32Array {
  const basis = new RealFourierBasis(sizePx, sizePx);
  try {
    const frequencies = basis.frequencyMagnitudes();
    const perChannel = frequencies.map((f) => 1 / Math.max(f, 1 / sizePx) ** decayPower);
    const magnitudes = new Float32Array(3 * perChannel.length);
    for (let c = 0; c < 3; c++) magnitudes.set(perChannel, c * perChannel.length);
    return magnitudes;
  } finally {
    basis.dispose();
  }
}
