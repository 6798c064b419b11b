import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { contentTypeForKey, isValidKey, NotFoundError } from '@featurevis/storage';
import { ApiError } from '../problems.ts';
import { problemResponses } from './shared.ts';

/** With local storage, result URLs point here; with S3 they are presigned and this route is not used. */
export const fileRoutes: FastifyPluginAsync = async (app) => {
  app.get('/v1/files/*', {
    schema: {
      summary: 'An object from local storage (an image, a metadata JSON, a sweep manifest)',
      params: Type.Object({ '*': Type.String() }),
      produces: ['image/png', 'application/json', 'application/octet-stream'],
      response: { 200: { description: 'The object\'s bytes', type: 'string', format: 'binary' }, ...problemResponses(404) },
    },
  }, async (request, reply) => {
    const key = (request.params as { '*': string })['*'];
    if (app.storage.driver !== 'local') throw new ApiError(404, 'files are served by the object store (presigned URLs) with STORAGE_DRIVER=s3');
    if (!isValidKey(key) || key.startsWith('models/')) throw new ApiError(404, `no file ${key}`);
    try {
      const bytes = await app.storage.get(key);
      return reply.type(contentTypeForKey(key)).header('cache-control', 'private, max-age=60').send(Buffer.from(bytes));
    } catch (err) {
      if (err instanceof NotFoundError) throw new ApiError(404, `no file ${key}`);
      throw err;
    }
  });
};
