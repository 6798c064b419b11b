/**
 * Result URLs with S3 storage: every finished unit in a job or sweep view carries two presigned GET
 * URLs (image and metadata), so a page of 1,000 finished sweep units costs the API 2,000 presignings.
 * Timed here both ways in one run: the SDK's `getSignedUrl` per URL (what the driver did before) and the
 * driver's `storage.url` (packages/storage/src/s3-presign.ts: the SDK's stack once, then its presigner).
 * Presigning is offline, so no S3 server runs; the endpoint is a path-style MinIO-like one as in
 * docker-compose.yml.
 */
import { performance } from 'node:perf_hooks';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { S3Storage } from '@featurevis/storage';
import type { BenchGroup } from './types.ts';

/** A page of 1,000 finished units: an image and a metadata file each. */
const keysOfPage = (units: number) => Array.from({ length: units }, (_, i) => [`jobs/sweep-1-${i}/image-0.png`, `jobs/sweep-1-${i}/metadata.json`]).flat();

export const storageGroup: BenchGroup = {
  name: 'storage',
  async run(options, report) {
    const storage = new S3Storage({
      endpoint: 'http://minio:9000', region: 'us-east-1', bucket: 'featurevis', accessKeyId: 'bench', secretAccessKey: 'bench-secret',
      forcePathStyle: true, presignExpiresS: 3600,
    });
    const keys = keysOfPage(options.quick ? 250 : 1000);
    const ways: Array<[string, (key: string) => Promise<string>]> = [
      ["before: the SDK's getSignedUrl per URL", (key) => getSignedUrl(storage.client, new GetObjectCommand({ Bucket: storage.bucket, Key: key }), { expiresIn: 3600 })],
      ['after: storage.url (stack once, one presigner)', (key) => storage.url(key)],
    ];
    try {
      // Warm-up (the SDK's lazy loading, the driver's template), then rounds alternating the two ways so
      // both see the same moments of this shared machine; the fastest round of each is reported.
      for (const [, url] of ways) for (const key of keys.slice(0, 200)) await url(key);
      const best = ways.map(() => Infinity);
      for (let round = 0; round < 3; round++) {
        for (const [i, [, url]] of ways.entries()) {
          const started = performance.now();
          for (const key of keys) await url(key);
          best[i] = Math.min(best[i]!, performance.now() - started);
        }
      }
      for (const [i, [variant]] of ways.entries()) {
        report({
          group: 'storage', backend: 'node', variant, urls: keys.length, urlsMs: best[i], usPerUrl: (best[i]! * 1000) / keys.length,
          note: `presigned GET URLs of ${keys.length / 2} finished units (image + metadata), one after another; fastest of 3 rounds`
            + (i > 0 ? `; ${(best[0]! / best[i]!).toFixed(1)}× faster than getSignedUrl` : ''),
        });
      }
    } finally {
      storage.destroy();
    }
  },
};
