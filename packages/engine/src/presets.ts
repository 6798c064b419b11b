/**
 * Presets (`method`) and the resolution of a request's settings. The presets themselves are pure data
 * in @featurevis/contracts (engine-spec `PRESETS`), so the API can show a job's filled-in spec without
 * loading TensorFlow; this module adds what needs the model: its default image size, and the checks
 * that tie the objective to the batch.
 */
import { METHODS, PRESETS, resolveEngineSettings, type EngineSettingsRequest, type Method, type Preset, type ResolvedEngineSettings } from '@featurevis/contracts';
import { InvalidSpecError, type LoadedModel } from './types.ts';

export { METHODS, PRESETS, type Method, type Preset, type ResolvedEngineSettings };

/**
 * The settings a run uses: explicit settings over the preset's over the defaults, with the image size
 * defaulting to the model's. A per-item objective list fixes the batch size; a different explicit
 * `image.batch` is an error.
 */
export function resolveSettings(request: EngineSettingsRequest, model: Pick<LoadedModel, 'info'>): ResolvedEngineSettings {
  if (request.method !== undefined && !(METHODS as readonly string[]).includes(request.method)) {
    throw new InvalidSpecError(`unknown method "${request.method}"; known: ${METHODS.join(', ')}`, 'method');
  }
  const settings = resolveEngineSettings(request, { defaultSizePx: model.info.input.defaultSizePx });
  if (Array.isArray(request.objective) && settings.image.batch !== request.objective.length) {
    throw new InvalidSpecError(`image.batch is ${settings.image.batch} but the objective lists ${request.objective.length} objectives, one per image`, 'image.batch');
  }
  return settings;
}
