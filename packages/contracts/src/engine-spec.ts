/**
 * The engine's settings as the public contract sees them: objectives, parameterisations, priors,
 * transforms, optimiser and presets. Pure data (TypeBox schemas, defaults, presets): the API validates
 * with it, openapi.yaml is generated from it, and the engine (packages/engine) implements every name
 * listed here — a test asserts that the engine's registries and these schemas name the same things.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Closed } from './common.ts';

export const LayerName = Type.String({ minLength: 1, maxLength: 256, description: 'A layer (LayersModel) or node (GraphModel) name as GET /v1/models/{id} lists it.' });
export const ClassRef = Type.Union([Type.Integer({ minimum: 0 }), Type.String({ minLength: 1, maxLength: 128 })], { description: 'A class index or one of the model\'s labels.' });

export const ClassObjective = Closed({
  type: Type.Literal('class'),
  class: ClassRef,
}, { title: 'ClassObjective', description: 'The pre-softmax logit of a class.' });

export const ChannelObjective = Closed({
  type: Type.Literal('channel'),
  layer: LayerName,
  channel: Type.Integer({ minimum: 0 }),
}, { title: 'ChannelObjective', description: 'The spatial mean of one channel of a layer.' });

export const Objective = Type.Union([ClassObjective, ChannelObjective], { discriminator: { propertyName: 'type' } } as object);
export type Objective = Static<typeof Objective>;

export const Optimizer = Closed({
  type: Type.Union([Type.Literal('adam'), Type.Literal('sgd')], { default: 'adam' }),
  learningRate: Type.Number({ exclusiveMinimum: 0, maximum: 100, default: 0.05 }),
  momentum: Type.Number({ minimum: 0, maximum: 0.999, default: 0.9, description: 'SGD momentum.' }),
}, { description: 'How pixels (or the parameterisation\'s variables) are updated.' });
export type Optimizer = Static<typeof Optimizer>;

export const Method = Type.Union([
  Type.Literal('naive'),
], { description: 'A preset of parameterisation, priors and transforms.' });
export type Method = Static<typeof Method>;

/** Settings every visualization shares, whether one job or a sweep. */
export const EngineSettings = {
  method: Type.Optional(Method),
  steps: Type.Optional(Type.Integer({ minimum: 1, description: 'Optimisation steps; bounded by the server\'s MAX_STEPS.' })),
  image: Type.Optional(Closed({
    size: Type.Optional(Type.Integer({ minimum: 8, description: 'Width and height in pixels; bounded by MAX_IMAGE_SIZE_PX.' })),
    batch: Type.Optional(Type.Integer({ minimum: 1, description: 'Images optimised together; bounded by MAX_BATCH.' })),
  })),
  seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295, description: 'Random seed; the same seed on the same backend gives byte-identical images. Chosen by the server when absent.' })),
  optimizer: Type.Optional(Type.Partial(Optimizer)),
};

export const DEFAULT_STEPS = 128;
export const DEFAULT_BATCH = 1;
export const DEFAULT_METHOD: Method = 'naive';
