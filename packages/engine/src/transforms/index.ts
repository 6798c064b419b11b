/**
 * Transforms by request name (packages/contracts engine-spec `TransformSchemas`). Each factory takes
 * its options and returns a Transform: images → images, drawing its randomness from the run's Random.
 */
import { jitter } from './jitter.ts';
import { pad } from './pad.ts';
import { rotate } from './rotate.ts';
import { scale } from './scale.ts';
import type { TransformFactory } from './transform.ts';

export const transforms = { jitter, pad, scale, rotate } satisfies Record<string, TransformFactory<never>>;
export type TransformName = keyof typeof transforms;

export { jitter, pad, scale, rotate };
export { rotationSampler, DEFAULT_ROTATE_DEGREES } from './rotate.ts';
export { DEFAULT_SCALE_FACTORS } from './scale.ts';
export type { TransformContext, TransformFactory } from './transform.ts';
