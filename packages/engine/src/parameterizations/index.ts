/**
 * Image parameterisations by request name. Each factory takes its options and { batch, sizePx, random }
 * and returns variables with a differentiable `render()` to RGB in [0,1], NHWC.
 */
import { cppn } from './cppn.ts';
import { fourier } from './fourier.ts';
import { generator } from './generator.ts';
import type { ParameterizationFactory } from './image-parameterization.ts';
import { laplacian } from './laplacian.ts';
import { maco } from './maco.ts';
import { pixel } from './pixel.ts';

export const parameterizations = { pixel, fourier, laplacian, cppn, maco, generator } satisfies Record<string, ParameterizationFactory<never>>;
export type ParameterizationName = keyof typeof parameterizations;

export { pixel, fourier, laplacian, cppn, maco, generator };
export type { PixelOptions } from './pixel.ts';
export type { FourierOptions } from './fourier.ts';
export type { LaplacianOptions } from './laplacian.ts';
export type { CppnOptions } from './cppn.ts';
export type { MacoOptions } from './maco.ts';
export { codeStatistics, loadGenerator, loadEncoder, GENERATOR_DIRS, type GeneratorOptions, type GeneratorName, type GeneratorParameterization, type CodeParameterization, isCodeParameterization, type CodeStatistics } from './generator.ts';
export { shapesMagnitudeSpectrum, powerLawMagnitudeSpectrum, SHAPES_SPECTRUM_IMAGE_COUNT, type SpectrumSource } from './magnitude-spectrum.ts';
export type { ImageParameterization, ParameterizationContext, ParameterizationFactory } from './image-parameterization.ts';
export { initialImages, DEFAULT_NOISE_STD, type Initialization, type InitializationContext } from './initialization.ts';
export { ColorDecorrelation, colorCorrelationSqrtFromImages, resolveColorMatrix, IMAGENET_COLOR_CORRELATION_SQRT, type ColorMatrix, type DecorrelateOption } from './color-decorrelation.ts';
export { ValidRgb, type ColorOptions, type ValidRange } from './valid-rgb.ts';
export { RealFourierBasis } from './fourier-basis.ts';
