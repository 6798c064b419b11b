/**
 * Reference image sets (issue 5): the images a job's `reference`, `facets`, `decorrelate.images` and an
 * inversion's `image.reference` evaluate on. `shapes` is the bundled procedural set; others are uploaded
 * here and stored like models (packages/catalog reference-sets.ts). An upload is read and validated
 * whole — every image decoded, every limit checked — before anything is written.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { unzipSync } from 'fflate';
import { Id, ReferenceSetList, ReferenceSetView } from '@featurevis/contracts';
import { decodeReferenceImage, imageFormat, ReferenceImageError, ReferenceSetNotFoundError, type ReferenceSetUpload } from '@featurevis/catalog';
import { LABELS } from '@featurevis/engine/datasets';
import { ApiError } from '../problems.ts';
import { problemResponses } from './shared.ts';

/** The bundled procedural set: rendered by the engine at any size and count, never stored. */
export const SHAPES_REFERENCE_SET: ReferenceSetView = { id: 'shapes', bundled: true, count: null, hash: null, labels: [...LABELS].sort(), images: [], createdAt: null };

const ID_PATTERN = new RegExp(Id.pattern!);
const LABELS_FILES = ['labels.json', 'labels.csv'];

/** `labels` as a field or as labels.json: a JSON object from file name to label. */
function parseLabelsJson(text: string, field: string): Map<string, string> {
  let value: unknown;
  try { value = JSON.parse(text); } catch { throw new ApiError(400, `${field}: not valid JSON; expected an object from file name to label`, field); }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ApiError(400, `${field}: expected a JSON object from file name to label`, field);
  const labels = new Map<string, string>();
  for (const [name, label] of Object.entries(value)) {
    if (typeof label !== 'string' || label.length === 0 || label.length > 128) throw new ApiError(400, `${field}: the label of "${name}" must be a string of 1–128 characters`, field);
    labels.set(name, label);
  }
  return labels;
}

/** labels.csv: one `file name,label` line per image; a header line `name,label` (or `file,label`) is skipped. */
function parseLabelsCsv(text: string, field: string): Map<string, string> {
  const labels = new Map<string, string>();
  text.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim() || (i === 0 && /^\s*(name|file|filename)\s*,\s*label\s*$/i.test(line))) return;
    const comma = line.lastIndexOf(',');
    const [name, label] = [line.slice(0, comma).trim(), line.slice(comma + 1).trim()];
    if (comma < 0 || !name || !label || label.length > 128) throw new ApiError(400, `${field}: line ${i + 1} is not "file name,label"`, field);
    labels.set(name, label);
  });
  return labels;
}

/** macOS and editor litter in zips, skipped rather than refused. */
const isLitter = (path: string) => path.endsWith('/') || path.startsWith('__MACOSX/') || path.split('/').some((segment) => segment.startsWith('.'));

export const referenceSetRoutes: FastifyPluginAsync = async (app) => {
  const { referenceSetMaxImages: maxImages, referenceSetMaxBytes: maxBytes, referenceSetMaxSidePx: maxSidePx, referenceSetMaxPixels: maxPixels } = app.config;

  app.get('/v1/reference-sets', { schema: { summary: 'The reference image sets jobs can name: the bundled shapes set and uploaded sets', response: { 200: ReferenceSetList } } },
    async () => ({ referenceSets: [SHAPES_REFERENCE_SET, ...(await app.referenceSets.list()).sort((a, b) => a.id.localeCompare(b.id))] }));

  app.get('/v1/reference-sets/:id', {
    schema: { summary: 'A reference image set: its images (stored as RGB PNGs), names and labels', params: Type.Object({ id: Type.String({ maxLength: 200 }) }), response: { 200: ReferenceSetView, ...problemResponses(404) } },
  }, async (request) => {
    const { id } = request.params as { id: string };
    if (id === SHAPES_REFERENCE_SET.id) return SHAPES_REFERENCE_SET;
    return app.referenceSets.get(id);
  });

  app.post('/v1/reference-sets', {
    schema: {
      summary: 'Upload a reference image set',
      description: `multipart/form-data: either one .zip file holding PNG/JPEG images (folders allowed; an optional labels.json {"file name": "label"} or labels.csv of "file name,label" lines inside it), or many PNG/JPEG file parts; an optional \`id\` field and an optional \`labels\` field holding the same JSON object. Images are recognised by their signature, decoded, converted to RGB (grey repeated, alpha dropped) and stored as PNGs in upload order (a zip's in its entry order); the index of an image is what dataset examples call referenceIndex. At most REFERENCE_SET_MAX_IMAGES images and REFERENCE_SET_MAX_BYTES bytes (413), REFERENCE_SET_MAX_SIDE_PX px on a side (422), REFERENCE_SET_MAX_PIXELS pixels decoded in all (413). Nothing is stored unless every image is valid.`,
      consumes: ['multipart/form-data'],
      response: { 201: ReferenceSetView, ...problemResponses(400, 409, 413, 415, 422) },
    },
  }, async (request, reply) => {
    if (!request.isMultipart()) throw new ApiError(415, 'POST /v1/reference-sets takes multipart/form-data: a .zip of images or image files, and optional id and labels fields');
    const files: Array<{ name: string; bytes: Uint8Array }> = [];
    let id: string | undefined;
    let labels = new Map<string, string>();
    let labelsField: string | undefined;
    let totalBytes = 0;
    const addFile = (name: string, bytes: Uint8Array) => {
      totalBytes += bytes.byteLength;
      if (totalBytes > maxBytes) throw new ApiError(413, `${name}: the upload is over ${maxBytes} bytes (REFERENCE_SET_MAX_BYTES)`, name);
      if (files.some((f) => f.name === name)) throw new ApiError(400, `${name}: two files of this name; names must be unique (labels refer to them)`, name);
      files.push({ name, bytes });
      if (files.length > maxImages) throw new ApiError(413, `${name}: the set has more than ${maxImages} images (REFERENCE_SET_MAX_IMAGES)`, name);
    };
    // +2: the labels file, and one over the limit so that the count check below names the file.
    for await (const part of request.parts({ limits: { fileSize: maxBytes, files: maxImages + 2 } })) {
      if (part.type === 'file') {
        const name = part.filename || part.fieldname;
        const bytes = new Uint8Array(await part.toBuffer());
        if (LABELS_FILES.includes(name)) {
          labelsField = name;
          labels = name.endsWith('.json') ? parseLabelsJson(Buffer.from(bytes).toString('utf8'), name) : parseLabelsCsv(Buffer.from(bytes).toString('utf8'), name);
        } else if (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
          for (const entry of unzip(name, bytes, maxBytes - totalBytes, maxImages)) {
            if (LABELS_FILES.includes(entry.path)) {
              labelsField = `${name}/${entry.path}`;
              const text = Buffer.from(entry.bytes).toString('utf8');
              labels = entry.path.endsWith('.json') ? parseLabelsJson(text, labelsField) : parseLabelsCsv(text, labelsField);
            } else addFile(entry.path, entry.bytes);
          }
        } else addFile(name, bytes);
      } else if (part.fieldname === 'id') {
        id = String(part.value);
        if (!ID_PATTERN.test(id)) throw new ApiError(400, `id: "${id}" is not an identifier (letters, digits, ".", "_" and "-", starting with a letter or digit, at most 128 characters)`, 'id');
      } else if (part.fieldname === 'labels') {
        labelsField = 'labels';
        labels = parseLabelsJson(String(part.value), 'labels');
      } else {
        throw new ApiError(400, `${part.fieldname}: unknown field; send image files or a .zip, and optional id and labels fields`, part.fieldname);
      }
    }
    if (files.length === 0) throw new ApiError(400, 'files: no images; send PNG/JPEG file parts or a .zip holding them', 'files');
    const unknownLabel = [...labels.keys()].find((name) => !files.some((f) => f.name === name));
    if (unknownLabel !== undefined) throw new ApiError(422, `${labelsField}: labels "${unknownLabel}", which is not an image of the upload`, labelsField);
    // Every image is decoded before anything is stored; the decoded total is bounded, so a few MB of
    // flat PNGs cannot decode to gigabytes (checked after each image: one image over at most).
    let decodedPixels = 0;
    const upload: ReferenceSetUpload = {
      id: id ?? `rs-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`,
      images: files.map(({ name, bytes }) => {
        if (!imageFormat(bytes)) throw new ApiError(415, `${name}: not a PNG or JPEG image (judged by its first bytes)`, name);
        let image: ReturnType<typeof decodeReferenceImage>;
        try {
          image = decodeReferenceImage(bytes, maxSidePx);
        } catch (err) {
          if (err instanceof ReferenceImageError) throw new ApiError(422, `${name}: ${err.message}`, name, err);
          throw err;
        }
        decodedPixels += image.width * image.height;
        if (decodedPixels > maxPixels) throw new ApiError(413, `${name}: the images come to more than ${maxPixels} pixels decoded (REFERENCE_SET_MAX_PIXELS)`, name);
        return { name, label: labels.get(name) ?? null, image };
      }),
    };
    if (upload.id === SHAPES_REFERENCE_SET.id || (await app.referenceSets.has(upload.id))) throw new ApiError(409, `id: a reference set with id "${upload.id}" already exists`, 'id');
    const view = await app.referenceSets.save(upload);
    request.log.info({ referenceSetId: view.id, images: view.count }, 'reference set stored');
    return reply.code(201).header('location', `/v1/reference-sets/${view.id}`).send(view);
  });
};

/**
 * A zip's file entries (litter skipped), in the zip's order. The uncompressed sizes the zip declares are
 * checked before anything is inflated (fflate's filter), so a zip bomb is refused, not expanded.
 */
function unzip(zipName: string, bytes: Uint8Array, bytesLeft: number, maxImages: number): Array<{ path: string; bytes: Uint8Array }> {
  let declared = 0;
  let entries = 0;
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes, {
      filter: (file) => {
        if (isLitter(file.name)) return false;
        declared += file.originalSize;
        entries += 1;
        if (declared > bytesLeft) throw new ApiError(413, `${zipName}: its files come to more than ${bytesLeft} bytes unpacked (REFERENCE_SET_MAX_BYTES)`, zipName);
        if (entries > maxImages + 1) throw new ApiError(413, `${zipName}: holds more than ${maxImages} images (REFERENCE_SET_MAX_IMAGES)`, zipName);
        return true;
      },
    });
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError(422, `${zipName}: not a readable zip: ${(err as Error).message}`, zipName, err);
  }
  return Object.entries(files).map(([path, content]) => ({ path, bytes: content }));
}
