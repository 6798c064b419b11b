/**
 * The S3 driver (AWS S3, MinIO, s3rver): used by the compose deployment so that the API and
 * any number of GPU workers share one store. Clients download through presigned GET URLs,
 * so image bytes never pass through the API.
 */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  paginateListObjectsV2,
} from '@aws-sdk/client-s3';
import { contentTypeForKey } from './content-type.ts';
import { assertValidKey, assertValidPrefix } from './keys.ts';
import { PresignedGetUrls } from './s3-presign.ts';
import { NotFoundError, type PutOptions, type Storage, type UrlOptions } from './types.ts';

export interface S3StorageOptions {
  /** e.g. `http://minio:9000`; unset for AWS. */
  endpoint?: string;
  /**
   * Endpoint written into presigned URLs, when clients reach the store at another address than
   * the services do (compose: services use `http://minio:9000`, a browser `http://localhost:9000`).
   * Presigning is offline, so this endpoint is never contacted. Default: `endpoint`.
   */
  publicEndpoint?: string;
  region: string;
  bucket: string;
  /** Both or neither; neither: the SDK's default credential chain (env, profile, instance role). */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** `http://host/bucket/key` instead of `http://bucket.host/key` (MinIO, s3rver). */
  forcePathStyle: boolean;
  /** Default lifetime of presigned URLs. */
  presignExpiresS: number;
  /** Attempts per request, including the first (SDK default 3). Readiness probes want few. */
  maxAttempts?: number;
  /** Keys per ListObjectsV2 page (S3's maximum and default: 1000); tests use tiny pages. */
  listPageSize?: number;
  /** Bound on opening a TCP connection, so ping() against a dead host fails promptly. */
  connectionTimeoutMs?: number;
}

export class S3Storage implements Storage {
  readonly driver = 's3' as const;
  readonly bucket: string;
  readonly client: S3Client;
  private readonly presignClient: S3Client;
  private readonly presignedUrls: PresignedGetUrls;
  private readonly presignExpiresS: number;
  private readonly listPageSize: number | undefined;

  constructor(options: S3StorageOptions) {
    if ((options.accessKeyId === undefined) !== (options.secretAccessKey === undefined)) {
      throw new Error('S3 credentials: give both accessKeyId and secretAccessKey, or neither');
    }
    this.bucket = options.bucket;
    this.presignExpiresS = options.presignExpiresS;
    this.listPageSize = options.listPageSize;
    this.client = makeClient(options, options.endpoint);
    this.presignClient = options.publicEndpoint && options.publicEndpoint !== options.endpoint
      ? makeClient(options, options.publicEndpoint)
      : this.client;
    this.presignedUrls = new PresignedGetUrls(this.presignClient, this.bucket);
  }

  async put(key: string, body: Uint8Array | string, options: PutOptions = {}): Promise<void> {
    assertValidKey(key);
    // S3 PUTs are atomic: readers see the previous object or the new one, never a part.
    await this.client.send(new PutObjectCommand({
      Bucket: this.bucket,
      Key: key,
      Body: typeof body === 'string' ? Buffer.from(body, 'utf8') : body,
      ContentType: options.contentType ?? contentTypeForKey(key),
    }));
  }

  async get(key: string): Promise<Uint8Array> {
    assertValidKey(key);
    try {
      const output = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!output.Body) throw new Error(`S3 GetObject ${key}: response without a body`);
      return await output.Body.transformToByteArray();
    } catch (error) {
      if (isObjectNotFound(error)) throw new NotFoundError(key);
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    assertValidKey(key);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (error) {
      if (isObjectNotFound(error)) return false;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    assertValidPrefix(prefix);
    const keys: string[] = [];
    // ListObjectsV2 returns at most 1000 keys a page; the paginator follows continuation tokens.
    for await (const page of paginateListObjectsV2({ client: this.client, pageSize: this.listPageSize }, { Bucket: this.bucket, Prefix: prefix })) {
      for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
    }
    // S3 lists in UTF-8 byte order, which equals JS code-unit order for our ASCII-only keys;
    // sort anyway so the interface's promise does not depend on the server (s3rver, MinIO).
    return keys.sort();
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async url(key: string, options: UrlOptions = {}): Promise<string> {
    assertValidKey(key);
    return this.presignedUrls.url(key, options.expiresInS ?? this.presignExpiresS);
  }

  async ping(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
  }

  /** Creates the bucket when it does not exist (start-up; compose also creates it with `mc`). */
  async ensureBucket(): Promise<void> {
    try {
      await this.ping();
      return;
    } catch (error) {
      if (!isBucketNotFound(error)) throw error;
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      // Another replica (API or a worker) created it between our HEAD and CREATE.
      const name = (error as { name?: string }).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
    }
  }

  ensureReady(): Promise<void> {
    return this.ensureBucket();
  }

  /** Closes the client's sockets (tests, shutdown). */
  destroy(): void {
    this.client.destroy();
    if (this.presignClient !== this.client) this.presignClient.destroy();
  }
}

function makeClient(options: S3StorageOptions, endpoint: string | undefined): S3Client {
  return new S3Client({
    endpoint,
    region: options.region,
    forcePathStyle: options.forcePathStyle,
    credentials: options.accessKeyId !== undefined && options.secretAccessKey !== undefined
      ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey }
      : undefined,
    maxAttempts: options.maxAttempts,
    requestHandler: { connectionTimeout: options.connectionTimeoutMs ?? 5000 },
    // Since @aws-sdk/client-s3 3.729 the SDK adds CRC32 checksums to every upload by default and
    // sends stream bodies aws-chunked with checksum trailers, which S3-compatible servers that
    // predate flexible checksums (s3rver, older MinIO) reject. Our bodies are buffers today, but
    // checksums only where an operation requires them keep every S3 implementation working.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** HTTP status of an SDK service error (duck-typed: the SDK may be installed more than once). */
function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

/**
 * A missing object: NoSuchKey from GET, a bare 404 from HEAD (no body, so no error code).
 * NoSuchBucket is a deployment error, not an absent object, and is rethrown as is.
 */
function isObjectNotFound(error: unknown): boolean {
  return statusOf(error) === 404 && (error as { name?: string }).name !== 'NoSuchBucket';
}

function isBucketNotFound(error: unknown): boolean {
  return statusOf(error) === 404;
}
