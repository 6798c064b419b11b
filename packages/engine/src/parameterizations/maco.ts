/**
 * `maco`: magnitude-constrained optimisation (Fel et al. 2023, "Unlocking Feature Visualization for
 * Deeper Networks with MAgnitude Constrained Optimization"). The image's Fourier magnitudes are fixed to
 * a natural-image spectrum (magnitude-spectrum.ts) and only the phases are variables:
 *
 *   image = σ(standardise(recorrelate(IDFT(r · e^{iφ}))))
 *
 * Because an image's magnitude spectrum is the part of its statistics that natural images share, fixing
 * it keeps every result inside that statistic and leaves the optimiser the phase, where the structure
 * (edges, positions) lives — no 1/f preconditioning or penalties needed to keep out high-frequency noise.
 * Standardise-then-sigmoid is Xplique's (`maco_image_parametrization`); the model sees [0,1] and maps it
 * to its own range, so Xplique's `values_range` stretch is left out. Xplique standardises before the
 * colour recorrelation; here it is after, in RGB: the colour matrix is normalised by its largest column
 * (valid-rgb.ts), so recorrelating a standardised image leaves a contrast that depends on how the
 * spectrum's energy splits between luminance and chroma — on the saturated shapes set, where the chroma
 * channels carry ~50× the luminance's energy, an RGB std near 0.1 — a near-grey image. Standardising in RGB gives every image std 1 before the sigmoid.
 *
 * Choices of our own, to make "the magnitude is fixed" hold exactly:
 * - In the columns that are their own conjugate (frequency column 0 and, for even sizes, W/2) the
 *   coefficients at rows k and H−k must be conjugates for the image to be real; otherwise the inverse
 *   keeps only their Hermitian part and the magnitude there changes. The phases used there are
 *   antisymmetrised, φ'(k) = (φ(k) − φ(H−k))/2, which makes the Nyquist points real and positive.
 *   The DC term is the exception: the inverse uses r·cos φ, so each channel's mean can move within ±r,
 *   r being (for 'shapes') how far the set's images' mean colours lie from the set's mean colour. A
 *   fixed DC would pin every image's mean colour to the set's; an objective may need to move it.
 * - The phases start uniform in [−π, π): an image with the fixed spectrum and random phase (a "natural
 *   noise" texture). Phases near 0, like the other parameterisations' small noise, would align every
 *   cosine at the origin and start from a single bright corner. The `init` noise std is therefore unused;
 *   other inits are refused: a phase-only image cannot take an arbitrary image's value.
 *
 * The image-space gradients the loop accumulates over the steps are MACO's attribution ("transparency")
 * map; `recordsAttributions` asks visualize() for them.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ColorMatrix, DecorrelateOption } from './color-decorrelation.ts';
import { ColorDecorrelation, resolveColorMatrix } from './color-decorrelation.ts';
import { RealFourierBasis } from './fourier-basis.ts';
import { assembleParameterization, variableOf, type ImageParameterization, type ParameterizationFactory } from './image-parameterization.ts';
import { powerLawMagnitudeSpectrum, shapesMagnitudeSpectrum, type SpectrumSource } from './magnitude-spectrum.ts';
import { ValidRgb } from './valid-rgb.ts';
import { InvalidSpecError } from '../types.ts';
import { drawPerItem } from '../random.ts';

export interface MacoOptions {
  /** Whose magnitudes: the bundled shapes set's average ('shapes', default) or 1/f^decayPower. */
  spectrum?: SpectrumSource;
  /** Exponent of the 'power-law' spectrum; default 1. */
  decayPower?: number;
  /** As the other parameterisations' `decorrelate`; MACO optimises decorrelated colours (default true). */
  decorrelate?: DecorrelateOption;
}

/** Added to the standard deviation so a constant image does not divide by zero (Xplique's 1e-5). */
const STANDARDIZE_EPSILON = 1e-5;

export const maco: ParameterizationFactory<MacoOptions> = (options, context): ImageParameterization => {
  const { batch, sizePx } = context;
  const source = options.spectrum ?? 'shapes';
  const decayPower = options.decayPower ?? 1;
  if (source !== 'shapes' && source !== 'power-law') throw new InvalidSpecError(`unknown spectrum "${String(source)}"`, 'parameterization.spectrum');
  if (!(decayPower >= 0)) throw new InvalidSpecError('decayPower must be ≥ 0', 'parameterization.decayPower');
  const decorrelate = options.decorrelate ?? true;

  const magnitudeValues = source === 'power-law'
    ? powerLawMagnitudeSpectrum(sizePx, decayPower)
    : spectrumInColourSpace(sizePx, decorrelate);
  const basis = new RealFourierBasis(sizePx, sizePx);
  const columns = basis.frequencyColumns;
  const magnitude = tf.tensor4d(magnitudeValues, [1, 3, sizePx, columns]);
  const selfConjugateMask = selfConjugateColumns(sizePx, columns);
  const decorrelation = decorrelate === false ? null : new ColorDecorrelation(colourMatrix(decorrelate));
  const validRgb = new ValidRgb({ decorrelate: false, range: 'sigmoid' });
  const phaseShape = [batch, 3, sizePx, columns];
  const phase = variableOf(drawPerItem(context, phaseShape, (shape, seed) => tf.randomUniform(shape, -Math.PI, Math.PI, 'float32', seed)));

  const toRaw = (): tf.Tensor4D => tf.tidy(() => {
    // Row k's mirror (H−k) mod H: row 0 stays, rows 1…H−1 reversed (slices and reverse have gradients on
    // every backend; gather's needs UnsortedSegmentSum, which WASM lacks).
    const mirrored = tf.concat([tf.slice(phase, [0, 0, 0, 0], [-1, -1, 1, -1]), tf.reverse(tf.slice(phase, [0, 0, 1, 0], [-1, -1, -1, -1]), 2)], 2);
    const antisymmetric = tf.div(tf.sub(phase, mirrored), 2);
    const used = tf.add(phase, tf.mul(selfConjugateMask, tf.sub(antisymmetric, phase)));
    const spectrum = tf.concat([tf.mul(magnitude, tf.cos(used)), tf.mul(magnitude, tf.sin(used))], 3);
    const channelsFirst = basis.inverse(tf.reshape(spectrum, [batch * 3, sizePx, 2 * columns]) as tf.Tensor3D);
    const channelsLast = tf.transpose(tf.reshape(channelsFirst, [batch, 3, sizePx, sizePx]), [0, 2, 3, 1]) as tf.Tensor4D;
    const images = decorrelation ? decorrelation.toRgb(channelsLast) : channelsLast;
    const { mean, variance } = tf.moments(images, [1, 2, 3], true);
    return tf.div(tf.sub(images, mean), tf.add(tf.sqrt(variance), STANDARDIZE_EPSILON)) as tf.Tensor4D;
  });

  const parameterization = assembleParameterization(
    {
      variables: [phase],
      toRaw,
      dispose: () => { magnitude.dispose(); selfConjugateMask.dispose(); basis.dispose(); decorrelation?.dispose(); },
    },
    validRgb,
    context,
  );
  return { ...parameterization, recordsAttributions: true };
};

function spectrumInColourSpace(sizePx: number, decorrelate: NonNullable<MacoOptions['decorrelate']>): Float32Array {
  if (decorrelate === false) return shapesMagnitudeSpectrum(sizePx);
  const decorrelation = new ColorDecorrelation(colourMatrix(decorrelate));
  try {
    return shapesMagnitudeSpectrum(sizePx, decorrelation.fromRgbMatrix);
  } finally {
    decorrelation.dispose();
  }
}

function colourMatrix(decorrelate: Exclude<DecorrelateOption, false>): ColorMatrix {
  return resolveColorMatrix(decorrelate);
}

/** A [H, Wf] mask of 1 in the self-conjugate columns (0 and, W even, W/2), where phases must be odd in k. */
function selfConjugateColumns(sizePx: number, columns: number): tf.Tensor2D {
  const mask = new Float32Array(sizePx * columns);
  for (let k = 0; k < sizePx; k++) {
    mask[k * columns] = 1;
    if (sizePx % 2 === 0) mask[k * columns + sizePx / 2] = 1;
  }
  mask[0] = 0; // the DC term keeps its own phase: the inverse uses r·cos φ, the image's mean colour
  return tf.tensor2d(mask, [sizePx, columns]);
}
