/** The models room: loading TF.js LayersModels and GraphModels and reading their layers and logits. */
export { loadModel, inspectModel, LOGITS_LAYER, DEFAULT_IMAGE_SIZE_PX, type LoadModelOptions } from './loadModel.ts';
export { loadModelFromDirectory, modelFilesFromDirectory, readSavedModelView, metadataFromView, MODEL_JSON_FILE, MODEL_VIEW_FILE } from './loadModelFromDirectory.ts';
export { mapToModelInput, preprocessingFromMetadata, DEFAULT_INPUT_RANGE, type InputPreprocessing } from './inputMapping.ts';
export { readModelArtifacts, detectModelFormat, type ModelFormat } from './modelArtifacts.ts';
export { closeNames } from './unknownLayer.ts';
export { serializeLayersModel, inMemoryModelFiles, serializedModelFiles, WEIGHTS_FILE, type SerializedModel } from './inMemoryModel.ts';
