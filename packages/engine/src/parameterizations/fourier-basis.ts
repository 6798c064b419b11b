/**
 * The 2-D real discrete Fourier transform and its inverse as two matrix products each, with
 * precomputed cos/sin bases. Hand-written because tfjs's `tf.spectral.rfft/irfft` have no registered
 * gradient (and no WASM kernel), while MatMul, Reshape and Transpose have both on every backend; for the
 * image sizes AM uses (≤ 512 px) the dense products are also fast.
 *
 * A spectrum is stored as real numbers, [N, H, 2·Wf]: the Wf = ⌊W/2⌋+1 real parts of each frequency row
 * followed by its Wf imaginary parts (the non-redundant half of a real image's spectrum, numpy's rfft2
 * layout). `inverse(forward(x)) = x` for real x.
 */
import * as tf from '@tensorflow/tfjs-core';

export class RealFourierBasis {
  readonly height: number;
  readonly width: number;
  /** ⌊W/2⌋ + 1 frequency columns. */
  readonly frequencyColumns: number;
  private readonly inverseWidth: tf.Tensor2D;
  private readonly inverseHeight: tf.Tensor2D;
  private readonly forwardWidth: tf.Tensor2D;
  private readonly forwardHeight: tf.Tensor2D;

  constructor(height: number, width: number) {
    this.height = height;
    this.width = width;
    const columns = Math.floor(width / 2) + 1;
    this.frequencyColumns = columns;
    const angle = (a: number, b: number, n: number) => (2 * Math.PI * ((a * b) % n)) / n;

    // Inverse along the width (irfft): real and imaginary parts of Σ_l c_l X[l] e^{+2πi ln/W}, where
    // c_l = 2 counts each column's conjugate twin, except DC and (W even) the Nyquist column.
    const inverseWidth = new Float32Array(2 * columns * 2 * width);
    for (let l = 0; l < columns; l++) {
      const weight = l === 0 || (width % 2 === 0 && l === width / 2) ? 1 : 2;
      for (let n = 0; n < width; n++) {
        const c = weight * Math.cos(angle(l, n, width));
        const s = weight * Math.sin(angle(l, n, width));
        inverseWidth[l * 2 * width + n] = c; // R → Zr
        inverseWidth[l * 2 * width + width + n] = s; // R → Zi
        inverseWidth[(columns + l) * 2 * width + n] = -s; // I → Zr
        inverseWidth[(columns + l) * 2 * width + width + n] = c; // I → Zi
      }
    }
    // Inverse along the height, keeping the real part: x[m] = Σ_k cos·Zr[k] − sin·Zi[k], scaled by 1/(HW).
    const inverseHeight = new Float32Array(2 * height * height);
    const normalization = 1 / (height * width);
    for (let k = 0; k < height; k++) {
      for (let m = 0; m < height; m++) {
        inverseHeight[k * height + m] = normalization * Math.cos(angle(k, m, height));
        inverseHeight[(height + k) * height + m] = -normalization * Math.sin(angle(k, m, height));
      }
    }
    // Forward along the width: Y[l] = Σ_n x[n] e^{−2πi ln/W}.
    const forwardWidth = new Float32Array(width * 2 * columns);
    for (let n = 0; n < width; n++) {
      for (let l = 0; l < columns; l++) {
        forwardWidth[n * 2 * columns + l] = Math.cos(angle(l, n, width));
        forwardWidth[n * 2 * columns + columns + l] = -Math.sin(angle(l, n, width));
      }
    }
    // Forward along the height, complex: X[k] = Σ_m e^{−2πi km/H} (Yr[m] + i Yi[m]).
    const forwardHeight = new Float32Array(2 * height * 2 * height);
    for (let m = 0; m < height; m++) {
      for (let k = 0; k < height; k++) {
        const c = Math.cos(angle(k, m, height));
        const s = Math.sin(angle(k, m, height));
        forwardHeight[m * 2 * height + k] = c; // Yr → Xr
        forwardHeight[m * 2 * height + height + k] = -s; // Yr → Xi
        forwardHeight[(height + m) * 2 * height + k] = s; // Yi → Xr
        forwardHeight[(height + m) * 2 * height + height + k] = c; // Yi → Xi
      }
    }
    this.inverseWidth = tf.tensor2d(inverseWidth, [2 * columns, 2 * width]);
    this.inverseHeight = tf.tensor2d(inverseHeight, [2 * height, height]);
    this.forwardWidth = tf.tensor2d(forwardWidth, [width, 2 * columns]);
    this.forwardHeight = tf.tensor2d(forwardHeight, [2 * height, 2 * height]);
  }

  /** |f| in cycles per pixel for each stored frequency, [H, Wf] row-major (numpy's fftfreq). */
  frequencyMagnitudes(): Float32Array {
    const { height, width, frequencyColumns } = this;
    const magnitudes = new Float32Array(height * frequencyColumns);
    for (let k = 0; k < height; k++) {
      const fy = (k < Math.ceil(height / 2) ? k : k - height) / height;
      for (let l = 0; l < frequencyColumns; l++) magnitudes[k * frequencyColumns + l] = Math.hypot(fy, l / width);
    }
    return magnitudes;
  }

  /** Spectra [N, H, 2·Wf] → real images [N, H, W]. */
  inverse(spectra: tf.Tensor3D): tf.Tensor3D {
    const { height, width, frequencyColumns } = this;
    return tf.tidy(() => {
      const n = spectra.shape[0];
      const alongWidth = tf.matMul(tf.reshape(spectra, [n * height, 2 * frequencyColumns]), this.inverseWidth); // [N·H, 2W]
      const heightLast = tf.transpose(tf.reshape(alongWidth, [n, height, 2, width]), [0, 3, 2, 1]); // [N, W, 2, H]
      const images = tf.matMul(tf.reshape(heightLast, [n * width, 2 * height]), this.inverseHeight); // [N·W, H]
      return tf.transpose(tf.reshape(images, [n, width, height]), [0, 2, 1]) as tf.Tensor3D;
    });
  }

  /** Real images [N, H, W] → spectra [N, H, 2·Wf]. */
  forward(images: tf.Tensor3D): tf.Tensor3D {
    const { height, width, frequencyColumns } = this;
    return tf.tidy(() => {
      const n = images.shape[0];
      const alongWidth = tf.matMul(tf.reshape(images, [n * height, width]), this.forwardWidth); // [N·H, 2Wf]
      const heightLast = tf.transpose(tf.reshape(alongWidth, [n, height, 2, frequencyColumns]), [0, 3, 2, 1]); // [N, Wf, 2, H]
      const spectra = tf.matMul(tf.reshape(heightLast, [n * frequencyColumns, 2 * height]), this.forwardHeight); // [N·Wf, 2H]
      return tf.reshape(tf.transpose(tf.reshape(spectra, [n, frequencyColumns, 2, height]), [0, 3, 2, 1]), [n, height, 2 * frequencyColumns]) as tf.Tensor3D;
    });
  }

  dispose(): void {
    this.inverseWidth.dispose();
    this.inverseHeight.dispose();
    this.forwardWidth.dispose();
    this.forwardHeight.dispose();
  }
}
