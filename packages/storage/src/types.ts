/** One small interface over object storage; two drivers: local filesystem (the default) and S3. */
export interface PutOptions { contentType?: string }
export interface UrlOptions { expiresInS?: number }

export interface Storage {
  readonly driver: 'local' | 's3';
  /** Writes (or overwrites) an object; a reader never sees a half-written object. */
  put(key: string, body: Uint8Array | string, options?: PutOptions): Promise<void>;
  /** Reads an object; throws NotFoundError when absent. */
  get(key: string): Promise<Uint8Array>;
  exists(key: string): Promise<boolean>;
  /** Keys under a prefix, sorted. */
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
  /** A URL a client can GET: presigned for S3; `${publicBaseUrl}/v1/files/${key}` for local. */
  url(key: string, options?: UrlOptions): Promise<string>;
  /** Throws when storage is unreachable (readiness). */
  ping(): Promise<void>;
  /** Start-up: creates the data directory (local) or the bucket (S3) when missing. Idempotent. */
  ensureReady(): Promise<void>;
}

export class NotFoundError extends Error {
  constructor(readonly key: string) { super(`no object at key ${key}`); this.name = 'NotFoundError'; }
}
