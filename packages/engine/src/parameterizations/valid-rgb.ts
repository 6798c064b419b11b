/**
 * The last stage every image parameterisation shares (Lucid's `to_valid_rgb`): optionally decorrelated
 * colours to RGB, then a squashing map to the valid range [0,1]. Each stage has an exact inverse, so an
 * initial image (or a step hook's edited image) can be written back into the variables.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ColorDecorrelation, resolveColorMatrix, type DecorrelateOption } from './color-decorrelation.ts';

/**
 * 'sigmoid': rgb = σ(t) (Lucid's default; smooth, never saturates exactly).
 * 'clip': rgb = clip(t + ½, 0, 1), the projection of classic pixel-space AM (Erhan et al. 2009;
 * Simonyan et al. 2014), with a straight-through gradient (Bengio, Léonard & Courville 2013) so that a
 * pixel pushed past 0 or 1 is not stuck there with a zero gradient for the rest of the run.
 */
export type ValidRange = 'sigmoid' | 'clip';

/** The request's colour options; the defaults are the request schema's (no decorrelation, clip). */
export interface ColorOptions {
  /**
   * Optimise in decorrelated colour space (Olah et al. 2017): true for Lucid's ImageNet matrix, or
   * { matrix } for a given square root of the colour covariance (rows: RGB), e.g. from
   * `colorCorrelationSqrtFromImages`.
   */
  decorrelate?: DecorrelateOption;
  range?: ValidRange;
}

/** sigmoid⁻¹ is infinite at 0 and 1; pixels are pulled this far inside before taking the logit. */
const LOGIT_EPSILON = 1e-4;

const clipStraightThrough = tf.customGrad((...inputs) => ({
  value: tf.clipByValue(tf.add(inputs[0] as tf.Tensor, 0.5), 0, 1),
  gradFunc: (dy: tf.Tensor) => dy,
}));

export class ValidRgb {
  readonly range: ValidRange;
  private readonly decorrelation: ColorDecorrelation | null;

  constructor(options: ColorOptions = {}) {
    this.range = options.range ?? 'clip';
    const decorrelate = options.decorrelate ?? false;
    this.decorrelation = decorrelate === false ? null
      : new ColorDecorrelation(resolveColorMatrix(decorrelate));
  }

  /** Whether toRgb's gradient is the identity: the clip range (straight-through) without a colour map. */
  get passesGradientThrough(): boolean {
    return this.range === 'clip' && this.decorrelation == null;
  }

  /** Unconstrained values (NHWC, 3 channels) to RGB in [0,1]. */
  toRgb(raw: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const rgb = this.decorrelation ? this.decorrelation.toRgb(raw) : raw;
      return (this.range === 'sigmoid' ? tf.sigmoid(rgb) : clipStraightThrough(rgb)) as tf.Tensor4D;
    });
  }

  /** The exact inverse of `toRgb` for images inside (0,1); values outside are clamped first. */
  fromRgb(images: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let unsquashed: tf.Tensor4D;
      if (this.range === 'sigmoid') {
        const p = tf.clipByValue(images, LOGIT_EPSILON, 1 - LOGIT_EPSILON);
        unsquashed = tf.log(tf.div(p, tf.sub(1, p))) as tf.Tensor4D;
      } else {
        unsquashed = tf.sub(tf.clipByValue(images, 0, 1), 0.5) as tf.Tensor4D;
      }
      return this.decorrelation ? this.decorrelation.fromRgb(unsquashed) : unsquashed;
    });
  }

  dispose(): void {
    this.decorrelation?.dispose();
  }
}
