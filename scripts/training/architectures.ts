/**
 * The bundled models' architectures: small fully-convolutional classifiers for the shapes set. Input
 * [null, null, 3] so they accept any image size (trained at 32×32); a global average pool before the
 * dense `logits` layer makes the class scores independent of size; softmax is its own layer
 * (`probabilities`) so that `logits` is a real, targetable layer.
 */
import * as tfl from '@tensorflow/tfjs-layers';

export type Architecture = 'conv' | 'depthwise';

export interface ArchitectureOptions { classes: number; seed: number }

export function buildClassifier(architecture: Architecture, { classes, seed }: ArchitectureOptions): tfl.LayersModel {
  // Every initialiser seeded, so a model id and its seed name one set of weights.
  let initializerSeed = seed * 1000;
  const kernel = () => tfl.initializers.heNormal({ seed: initializerSeed++ });
  const image = tfl.input({ shape: [null, null, 3], name: 'image' });
  const conv = (name: string, filters: number, separable: boolean) => separable
    ? tfl.layers.separableConv2d({ name, filters, kernelSize: 3, padding: 'same', activation: 'relu', depthwiseInitializer: kernel(), pointwiseInitializer: kernel() })
    : tfl.layers.conv2d({ name, filters, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: kernel() });
  const separable = architecture === 'depthwise';
  // The first convolution stays a full one: a depthwise 3×3 over only three colour channels learns little.
  let x = conv('conv1', 16, false).apply(image) as tfl.SymbolicTensor;
  x = tfl.layers.maxPooling2d({ name: 'pool1', poolSize: 2 }).apply(x) as tfl.SymbolicTensor;
  x = conv('conv2', 32, separable).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.maxPooling2d({ name: 'pool2', poolSize: 2 }).apply(x) as tfl.SymbolicTensor;
  x = conv('conv3', 64, separable).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({ name: 'global_pool' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({ name: 'logits', units: classes, kernelInitializer: tfl.initializers.glorotUniform({ seed: initializerSeed++ }) }).apply(x) as tfl.SymbolicTensor;
  const probabilities = tfl.layers.activation({ name: 'probabilities', activation: 'softmax' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ name: `shapes-${architecture}`, inputs: image, outputs: probabilities });
}
