import type { FastifyInstance } from 'fastify';
import type { ModelView } from '@featurevis/contracts';
import { Problem } from '@featurevis/contracts';
import { ModelNotFoundError } from '@featurevis/catalog';
import { ApiError } from '../problems.ts';

/** Response schemas for the problem statuses a route can answer. */
export function problemResponses(...statuses: number[]) {
  return Object.fromEntries(statuses.map((s) => [s, { ...Problem, description: `Problem (${s})` }]));
}

/** The model a request body names; an unknown one is the body's fault (422), not the URL's. */
export async function modelForRequest(app: FastifyInstance, id: string): Promise<ModelView> {
  try {
    return await app.catalog.get(id);
  } catch (err) {
    if (err instanceof ModelNotFoundError) throw new ApiError(422, `model: no model with id "${id}" (GET /v1/models lists them)`, 'model');
    throw err;
  }
}
