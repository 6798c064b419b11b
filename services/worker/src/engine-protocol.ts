/** Messages between the worker's event loop (engine-pool.ts) and its engine thread (engine-thread.ts). */
import type { ModelView } from '@featurevis/contracts';
import type { ImageScore, VisualizationOutput, StepProgress } from '@featurevis/engine';
import type { SelectedBackend } from '@featurevis/engine/backends';
import type { ReferenceImageSet } from '@featurevis/engine/datasets';

export type ThreadRequest =
  /** `referenceSets`: the uploaded reference sets the spec names, at the run's image size (reference-sets.ts). */
  | { type: 'run'; runId: string; view: ModelView; spec: unknown; cancelFlag: SharedArrayBuffer; progressEverySteps: number; referenceSets: ReferenceImageSet[] }
  /** Score finished images (PNG batches) by the spec's objective on this model, without optimising. */
  | { type: 'score'; runId: string; view: ModelView; spec: unknown; imageSets: Uint8Array[][] }
  | { type: 'model-files'; runId: string; modelJson: unknown; weights: Record<string, Uint8Array> }
  | { type: 'backend' };

export type ThreadResponse =
  | ({ type: 'progress'; runId: string } & StepProgress)
  | { type: 'need-model'; runId: string; modelId: string }
  | { type: 'done'; runId: string; output: VisualizationOutput; leakedTensors: number }
  | { type: 'scored'; runId: string; scores: ImageScore[][] }
  | { type: 'failed'; runId: string; kind: 'canceled' | 'invalid' | 'error'; message: string; field?: string; stack?: string }
  | { type: 'backend'; name: string; package: string; threads?: number; nativeConv?: NativeConvStatus };

/** WASM: whether convolutions run in the convolution addon, and where not, why (the engine's report). */
export type NativeConvStatus = NonNullable<SelectedBackend['nativeConv']>;
