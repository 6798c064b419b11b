import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { ModelList, ModelMetadata, ModelView } from '@featurevis/contracts';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@featurevis/engine/backends';
import { inMemoryModelFiles, inspectModel } from '@featurevis/engine/models';
import { ApiError, describeValidationError } from '../problems.ts';
import { problemResponses } from './shared.ts';
import { Ajv } from 'ajv';
import { withDiscriminators } from '../schema-compiler.ts';

const validateMetadata = new Ajv({ allErrors: false, strict: false }).compile(withDiscriminators(ModelMetadata));

/** What a TF.js model.json lists as its weight files. */
function weightPaths(modelJson: unknown): string[] {
  const manifest = (modelJson as { weightsManifest?: Array<{ paths?: string[] }> }).weightsManifest;
  if (!Array.isArray(manifest)) throw new ApiError(400, 'model.json: no weightsManifest; expected a TF.js LayersModel or GraphModel model.json', 'model.json');
  return manifest.flatMap((group) => group.paths ?? []);
}

/**
 * Inspecting an upload loads it once (to list its layers and check its weights), which needs a
 * TensorFlow.js backend in the API process. The API never optimises, so the pure-JS backend does; a
 * process that has registered one already (the embedded start, a benchmark) keeps its own.
 */
async function ensureInspectionBackend(): Promise<void> {
  if (Object.keys(tf.engine().registryFactory).length === 0) await initBackend('cpu');
}

export const modelRoutes: FastifyPluginAsync = async (app) => {
  await ensureInspectionBackend();
  app.get('/v1/models', { schema: { summary: 'The models jobs can target: bundled and uploaded', response: { 200: ModelList } } },
    async () => ({ models: await app.catalog.list() }));

  app.get('/v1/models/:id', {
    schema: { summary: 'A model: input, layers with output shapes and channel counts, labels', params: Type.Object({ id: Type.String({ maxLength: 200 }) }), response: { 200: ModelView, ...problemResponses(404) } },
  }, async (request) => app.catalog.get((request.params as { id: string }).id));

  app.post('/v1/models', {
    schema: {
      summary: 'Register a TF.js LayersModel or GraphModel',
      description: 'multipart/form-data: the file model.json, each weight file under the name its weightsManifest gives, and an optional `metadata` field holding JSON: id, name, input ({range:[min,max]} or {mean,std}), labels. The model is loaded and inspected before anything is stored.',
      consumes: ['multipart/form-data'],
      response: { 201: ModelView, ...problemResponses(400, 409, 413, 415, 422) },
    },
  }, async (request, reply) => {
    if (!request.isMultipart()) throw new ApiError(415, 'POST /v1/models takes multipart/form-data: model.json, its weight files and an optional metadata field');
    const files = new Map<string, Uint8Array>();
    let metadata: ModelMetadata = {};
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        const name = part.filename || part.fieldname;
        files.set(name, new Uint8Array(await part.toBuffer()));
      } else if (part.fieldname === 'metadata') {
        try { metadata = JSON.parse(String(part.value)); } catch { throw new ApiError(400, 'metadata: not valid JSON', 'metadata'); }
        if (!validateMetadata(metadata)) {
          const { field, detail } = describeValidationError(validateMetadata.errors![0]!, 'metadata');
          throw new ApiError(400, `metadata.${detail}`, `metadata.${field}`);
        }
      } else {
        throw new ApiError(400, `${part.fieldname}: unknown field; send model.json, weight files and metadata`, part.fieldname);
      }
    }
    const modelJsonBytes = files.get('model.json');
    if (!modelJsonBytes) throw new ApiError(400, 'model.json: required (a file part named model.json)', 'model.json');
    let modelJson: unknown;
    try { modelJson = JSON.parse(Buffer.from(modelJsonBytes).toString('utf8')); } catch { throw new ApiError(400, 'model.json: not valid JSON', 'model.json'); }
    const needed = weightPaths(modelJson);
    const missing = needed.filter((p) => !files.has(p));
    if (missing.length) throw new ApiError(400, `${missing[0]}: weight file missing; model.json's weightsManifest needs ${needed.join(', ')}`, missing[0]);
    const extra = [...files.keys()].filter((n) => n !== 'model.json' && !needed.includes(n));
    if (extra.length) throw new ApiError(400, `${extra[0]}: not named in model.json's weightsManifest`, extra[0]);
    const id = metadata.id ?? `m-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    if (await app.catalog.has(id)) throw new ApiError(409, `metadata.id: a model with id "${id}" already exists`, 'metadata.id');
    let view: ModelView;
    try {
      view = await inspectModel(inMemoryModelFiles(modelJson, Object.fromEntries(needed.map((p) => [p, files.get(p)!]))), { id, metadata });
    } catch (err) {
      const e = err as Error & { field?: string };
      throw new ApiError(422, `${e.field ?? 'model.json'}: the model could not be loaded: ${e.message}`, e.field ?? 'model.json', err);
    }
    await app.catalog.save(view, files);
    request.log.info({ modelId: id, layers: view.layers.length }, 'model registered');
    return reply.code(201).header('location', `/v1/models/${id}`).send(view);
  });
};
