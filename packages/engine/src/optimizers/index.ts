/** Optimisers by request name (engine-spec `Optimizer.type`), and the loop's gradient tricks. */
import type { Optimizer as OptimizerSettings } from '@featurevis/contracts';
import { adam } from './adam.ts';
import type { OptimizerFactory } from './optimizer.ts';
import { sgd } from './sgd.ts';

export const optimizers: Record<OptimizerSettings['type'], OptimizerFactory> = { adam, sgd };

export { normalizeGradients } from './normalize-gradients.ts';
export { withRedirectedReluGradients } from './redirected-relu-gradient.ts';
export type { OptimizerFactory } from './optimizer.ts';
