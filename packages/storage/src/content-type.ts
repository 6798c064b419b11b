/**
 * The local driver keeps no per-object metadata, so the content type a reader serves is
 * derived from the key's extension; the S3 driver uses the same table when the writer
 * gave no content type, so both drivers answer alike.
 */
const CONTENT_TYPE_BY_EXTENSION: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.bin': 'application/octet-stream',
  '.npy': 'application/octet-stream',
};

export function contentTypeForKey(key: string): string {
  const dot = key.lastIndexOf('.');
  const extension = dot > key.lastIndexOf('/') ? key.slice(dot).toLowerCase() : '';
  return CONTENT_TYPE_BY_EXTENSION[extension] ?? 'application/octet-stream';
}
