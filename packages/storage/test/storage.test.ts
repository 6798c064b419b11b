/**
 * One behavioural suite, run against both drivers: the local filesystem in a temporary
 * directory, and S3 through the real S3 protocol against an in-process s3rver.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  InvalidKeyError,
  LocalStorage,
  NotFoundError,
  S3Storage,
  contentTypeForKey,
  createStorage,
  type Storage,
} from '@featurevis/storage';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { PresignedGetUrls } from '../src/s3-presign.ts';
import { startS3, type S3Handle } from '../../../test/helpers/s3-server.ts';

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Every byte value, so an encoding bug (UTF-8, base64, text mode) cannot pass unnoticed. */
const ALL_BYTES = Uint8Array.from({ length: 512 }, (_, i) => (i * 7 + 3) % 256);

const BAD_KEYS = [
  '', '../secret', 'jobs/../../secret', '/etc/passwd', 'jobs//image.png', 'jobs/./image.png',
  'jobs/image.png/', '.hidden', 'jobs/a b.png', 'jobs\\image.png', 'jobs/ümlaut.png', 'jobs/%2e%2e/x',
];

interface DriverFixture {
  storage: Storage;
  /** Stops whatever serves the driver's URLs. */
  close(): Promise<void>;
}

function storageSuite(name: string, setup: () => Promise<DriverFixture>) {
  describe(`${name} storage`, () => {
    let fixture: DriverFixture;
    let storage: Storage;
    before(async () => {
      fixture = await setup();
      storage = fixture.storage;
      await storage.ensureReady();
    });
    after(() => fixture.close());

    it('reports its driver', () => assert.equal(storage.driver, name));

    it('puts and gets text and bytes', async () => {
      await storage.put('jobs/a/meta.json', '{"ok":true}', { contentType: 'application/json' });
      assert.equal(decode(await storage.get('jobs/a/meta.json')), '{"ok":true}');
      await storage.put('jobs/a/image-0.png', ALL_BYTES);
      assert.deepEqual(await storage.get('jobs/a/image-0.png'), ALL_BYTES);
    });

    it('overwrites an object in place', async () => {
      await storage.put('jobs/b/state.json', 'first, a longer body');
      await storage.put('jobs/b/state.json', 'second');
      assert.equal(decode(await storage.get('jobs/b/state.json')), 'second');
      assert.deepEqual(await storage.list('jobs/b/'), ['jobs/b/state.json']);
    });

    it('tells whether an object exists', async () => {
      await storage.put('jobs/c/x.txt', 'x');
      assert.equal(await storage.exists('jobs/c/x.txt'), true);
      assert.equal(await storage.exists('jobs/c/y.txt'), false);
      // A "directory" is not an object.
      assert.equal(await storage.exists('jobs/c'), false);
    });

    it('lists keys under a prefix, recursively and sorted', async () => {
      for (const key of ['list/b/2.png', 'list/a/1.png', 'list/b/10.png', 'list/a/sub/deep.json', 'listing/other.txt']) {
        await storage.put(key, key);
      }
      assert.deepEqual(await storage.list('list/'), ['list/a/1.png', 'list/a/sub/deep.json', 'list/b/10.png', 'list/b/2.png']);
      assert.deepEqual(await storage.list('list/b/'), ['list/b/10.png', 'list/b/2.png']);
      // A prefix matches characters, not whole segments (S3 semantics).
      assert.deepEqual(await storage.list('list'), ['list/a/1.png', 'list/a/sub/deep.json', 'list/b/10.png', 'list/b/2.png', 'listing/other.txt']);
      assert.deepEqual(await storage.list('list/b/1'), ['list/b/10.png']);
      assert.deepEqual(await storage.list('nothing/here/'), []);
    });

    it('deletes objects, and deleting an absent one succeeds', async () => {
      await storage.put('jobs/d/gone.txt', 'bye');
      await storage.delete('jobs/d/gone.txt');
      assert.equal(await storage.exists('jobs/d/gone.txt'), false);
      assert.deepEqual(await storage.list('jobs/d/'), []);
      await storage.delete('jobs/d/gone.txt');
    });

    it('throws NotFoundError for an absent object', async () => {
      await assert.rejects(storage.get('jobs/missing/image-0.png'), (error: unknown) => {
        assert.ok(error instanceof NotFoundError);
        assert.equal(error.key, 'jobs/missing/image-0.png');
        return true;
      });
    });

    it('gives a URL that a plain HTTP client can download the bytes from', async () => {
      await storage.put('jobs/e/image-0.png', ALL_BYTES, { contentType: 'image/png' });
      const url = await storage.url('jobs/e/image-0.png', { expiresInS: 60 });
      const response = await fetch(url);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'image/png');
      assert.deepEqual(new Uint8Array(await response.arrayBuffer()), ALL_BYTES);
    });

    it('rejects keys that are not plain relative paths', async () => {
      for (const key of BAD_KEYS) {
        await assert.rejects(storage.put(key, 'x'), InvalidKeyError, `put ${JSON.stringify(key)}`);
        await assert.rejects(storage.get(key), InvalidKeyError, `get ${JSON.stringify(key)}`);
        await assert.rejects(storage.url(key), InvalidKeyError, `url ${JSON.stringify(key)}`);
      }
      await assert.rejects(storage.list('../'), InvalidKeyError);
    });

    it('answers ping while reachable', async () => {
      await storage.ping();
    });
  });
}

/**
 * Checks a presigned GET URL's Signature V4 as S3 does (AWS's "Authenticating requests: using query
 * parameters"): the canonical request from the URL, the string to sign, the derived key, the HMAC.
 * Only host-signed, unsigned-payload URLs, which is what presigned GETs are.
 */
function verifySigV4Url(url: URL, secretAccessKey: string): boolean {
  const encode = (text: string) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const params = [...url.searchParams].filter(([name]) => name !== 'X-Amz-Signature');
  assert.equal(url.searchParams.get('X-Amz-SignedHeaders'), 'host');
  const canonicalQuery = params.map(([name, value]) => `${encode(name)}=${encode(value)}`).sort().join('&');
  const canonicalRequest = ['GET', url.pathname, canonicalQuery, `host:${url.host}`, '', 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const amzDate = url.searchParams.get('X-Amz-Date')!;
  const [, date, region, service] = url.searchParams.get('X-Amz-Credential')!.split('/');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date!), region!), service!), 'aws4_request');
  return createHmac('sha256', signingKey).update(stringToSign).digest('hex') === url.searchParams.get('X-Amz-Signature');
}

/** Serves `/v1/files/<key>` the way the API does, so the local driver's URLs can be fetched. */
async function serveFiles(getStorage: () => Storage): Promise<{ baseUrl: string; close(): Promise<void> }> {
  const server = http.createServer(async (request, response) => {
    const key = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname.replace(/^\/v1\/files\//, ''));
    try {
      const body = await getStorage().get(key);
      response.writeHead(200, { 'content-type': contentTypeForKey(key) }).end(body);
    } catch (error) {
      response.writeHead(error instanceof NotFoundError ? 404 : 400).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

storageSuite('local', async () => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'featurevis-storage-'));
  let storage: Storage | undefined;
  const files = await serveFiles(() => storage!);
  // A trailing slash on the base URL must not produce `//v1/files`.
  storage = createStorage({ driver: 'local', dataDir: path.join(dataDir, 'objects'), publicBaseUrl: `${files.baseUrl}/` });
  return {
    storage,
    async close() {
      await files.close();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
});

storageSuite('s3', async () => {
  const s3 = await startS3();
  // A bucket that does not exist yet: the suite's ensureReady() must create it.
  const storage = createStorage({
    driver: 's3', endpoint: s3.endpoint, region: 'us-east-1', bucket: 'created-at-start-up',
    accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, forcePathStyle: true, presignExpiresS: 60,
  });
  return { storage, close: async () => { (storage as S3Storage).destroy(); await s3.stop(); } };
});

describe('local storage specifics', () => {
  let dataDir: string;
  before(async () => { dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'featurevis-storage-')); });
  after(() => fs.rm(dataDir, { recursive: true, force: true }));

  it('builds URLs under /v1/files on the public base URL', async () => {
    const storage = new LocalStorage({ dataDir, publicBaseUrl: 'https://vis.example.org/' });
    assert.equal(await storage.url('jobs/j1/image-0.png'), 'https://vis.example.org/v1/files/jobs/j1/image-0.png');
  });

  it('keeps every object inside the data directory', async () => {
    const storage = new LocalStorage({ dataDir: path.join(dataDir, 'inner'), publicBaseUrl: 'http://x' });
    await storage.ensureReady();
    await assert.rejects(storage.put('../escaped.txt', 'x'), InvalidKeyError);
    await assert.rejects(storage.put('/tmp/escaped.txt', 'x'), InvalidKeyError);
    assert.deepEqual(await fs.readdir(dataDir), ['inner']);
    assert.deepEqual(await fs.readdir(path.join(dataDir, 'inner')), []);
    assert.equal(storage.pathOf('jobs/j1/image-0.png'), path.join(dataDir, 'inner', 'jobs', 'j1', 'image-0.png'));
  });

  it('never lets a reader see a half-written object', async () => {
    const storage = new LocalStorage({ dataDir: path.join(dataDir, 'atomic'), publicBaseUrl: 'http://x' });
    // Several MiB, so that Node writes and reads each body in many chunks that could interleave.
    const sizeBytes = 2 << 20;
    const bodies = [0x11, 0x22, 0x33].map((byte) => new Uint8Array(sizeBytes).fill(byte));
    await storage.put('race/blob.bin', bodies[0]);
    let writing = true;
    const writer = (async () => {
      for (let round = 1; round <= 6; round++) await storage.put('race/blob.bin', bodies[round % bodies.length]);
      writing = false;
    })();
    const reader = async () => {
      let reads = 0;
      while (writing || reads === 0) {
        const read = await storage.get('race/blob.bin');
        assert.equal(read.byteLength, sizeBytes, 'a read saw a partly written object');
        assert.ok(read.every((byte) => byte === read[0]), 'a read mixed two writes');
        reads++;
      }
      return reads;
    };
    await Promise.all([writer, reader(), reader()]);
    // Temporary files never show up as objects, nor remain behind.
    assert.deepEqual(await storage.list('race/'), ['race/blob.bin']);
    assert.deepEqual(await fs.readdir(path.join(dataDir, 'atomic', 'race')), ['blob.bin']);
  });

  it('fails ping when the data directory is gone', async () => {
    const storage = new LocalStorage({ dataDir: path.join(dataDir, 'vanishing'), publicBaseUrl: 'http://x' });
    await storage.ensureReady();
    await storage.ping();
    await fs.rm(path.join(dataDir, 'vanishing'), { recursive: true });
    await assert.rejects(storage.ping());
  });
});

describe('s3 storage specifics', () => {
  let s3: S3Handle;
  before(async () => { s3 = await startS3({ bucket: 'specifics' }); });
  after(() => s3.stop());

  const make = (overrides: Partial<ConstructorParameters<typeof S3Storage>[0]> = {}) => new S3Storage({
    endpoint: s3.endpoint, region: 'us-east-1', bucket: s3.bucket, accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey, forcePathStyle: true, presignExpiresS: 60, ...overrides,
  });

  it('follows continuation tokens across list pages', async () => {
    const storage = make({ listPageSize: 2 });
    const keys = ['paged/0.txt', 'paged/1.txt', 'paged/2.txt', 'paged/3.txt', 'paged/4.txt'];
    for (const key of keys) await storage.put(key, key);
    assert.deepEqual(await storage.list('paged/'), keys);
    storage.destroy();
  });

  it('stores the content type given, or the one the extension implies', async () => {
    const storage = make();
    await storage.put('types/image.png', ALL_BYTES);
    await storage.put('types/blob', 'x', { contentType: 'text/plain' });
    assert.equal((await fetch(await storage.url('types/image.png'))).headers.get('content-type'), 'image/png');
    assert.equal((await fetch(await storage.url('types/blob'))).headers.get('content-type'), 'text/plain');
    storage.destroy();
  });

  it('signs URLs for the public endpoint without contacting it', async () => {
    const storage = make({ publicEndpoint: 'https://files.example.org' });
    const url = new URL(await storage.url('jobs/j1/image-0.png', { expiresInS: 120 }));
    assert.equal(url.origin, 'https://files.example.org');
    assert.equal(url.pathname, `/${s3.bucket}/jobs/j1/image-0.png`);
    assert.equal(url.searchParams.get('X-Amz-Expires'), '120');
    assert.ok(url.searchParams.get('X-Amz-Signature'));
    storage.destroy();
  });

  it('presigns the same URLs as the SDK\'s getSignedUrl, for every kind of endpoint', async () => {
    const signingDate = new Date('2026-12-06T10:00:00Z');
    const clients: Array<ConstructorParameters<typeof S3Client>[0]> = [
      { endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1' },
      { endpoint: 'http://minio:9000', forcePathStyle: false, region: 'us-east-1' },
      { endpoint: 'https://files.example.org/', forcePathStyle: true, region: 'eu-central-1' },
      { region: 'eu-west-1', forcePathStyle: false },
      { region: 'eu-west-1', forcePathStyle: true },
      { region: 'us-east-1', forcePathStyle: false, useDualstackEndpoint: true },
    ];
    // Storage keys, and keys the SDK has to escape (PresignedGetUrls itself takes any key).
    const keys = ['jobs/j1/image-0.png', 'sweeps/s-1/units/0007/metadata.json', 'a b/ü(1)*!.png', 'x'];
    for (const options of clients) {
      const client = new S3Client({ ...options, credentials: { accessKeyId: 'AKID', secretAccessKey: 'secret' } });
      const urls = new PresignedGetUrls(client, 'my-bucket');
      for (const key of keys) {
        for (const expiresInS of [60, 3600]) {
          const expected = await getSignedUrl(client, new GetObjectCommand({ Bucket: 'my-bucket', Key: key }), { expiresIn: expiresInS, signingDate });
          assert.equal(await urls.url(key, expiresInS, signingDate), expected, `${JSON.stringify(options)} ${key}`);
        }
      }
      client.destroy();
    }
  });

  it('signs URLs that a Signature V4 check accepts, and only for their own key', async () => {
    // s3rver does not check V4 signatures (its authentication middleware says so), so the URLs are
    // checked here by the algorithm AWS documents; a URL for one key must not pass for another.
    const storage = make();
    const url = new URL(await storage.url('signed/a.txt', { expiresInS: 300 }));
    assert.equal(verifySigV4Url(url, s3.secretAccessKey), true);
    const forged = new URL(url);
    forged.pathname = forged.pathname.replace('a.txt', 'b.txt');
    assert.equal(verifySigV4Url(forged, s3.secretAccessKey), false);
    assert.equal(verifySigV4Url(url, 'another-secret'), false);
    const longer = new URL(url);
    longer.searchParams.set('X-Amz-Expires', '301');
    assert.equal(verifySigV4Url(longer, s3.secretAccessKey), false);
    storage.destroy();
  });

  it('ensureBucket is idempotent', async () => {
    const storage = make({ bucket: 'made-twice' });
    await storage.ensureBucket();
    await storage.ensureBucket();
    await storage.ping();
    storage.destroy();
  });

  it('ping fails for a missing bucket and for a stopped server', async () => {
    await assert.rejects(make({ bucket: 'no-such-bucket' }).ping());
    const doomed = await startS3({ bucket: 'doomed' });
    const storage = make({ endpoint: doomed.endpoint, bucket: doomed.bucket, maxAttempts: 1 });
    await storage.ping();
    await doomed.stop();
    await assert.rejects(storage.ping());
    storage.destroy();
  });

  it('rejects half-given credentials', () => {
    assert.throws(() => make({ secretAccessKey: undefined }), /both accessKeyId and secretAccessKey/);
  });
});
