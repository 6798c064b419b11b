/**
 * A throw-away S3 for tests: s3rver on a free port, its objects in a temporary directory, one
 * bucket created. It speaks the real S3 REST protocol, so the S3 driver is tested through
 * @aws-sdk/client-s3 exactly as it talks to MinIO or AWS.
 *
 *   const s3 = await startS3();
 *   const storage = createStorage({ driver: 's3', ...s3, region: 'us-east-1', forcePathStyle: true, presignExpiresS: 60 });
 *   ...
 *   await s3.stop();
 *
 * Why a child process and not s3rver in this process: s3rver 3.7 encrypts ListObjectsV2
 * continuation tokens with single DES, which OpenSSL 3 (Node >= 17) only offers through its
 * legacy provider; in-process, every listing longer than one page fails with a 500. The
 * child runs with `--openssl-legacy-provider`, so pagination works as on real S3.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

export interface S3Handle {
  /** `http://127.0.0.1:<port>`: use with forcePathStyle (no per-bucket host names here). */
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Stops the server and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;

/**
 * Runs in the child: starts s3rver on port 0 (Node picks a free port and s3rver reports it),
 * prints the port, and exits when the parent closes stdin (also when the parent dies).
 */
const CHILD_SCRIPT = `
const S3rver = require(process.argv[1]);
const [directory, bucket] = process.argv.slice(2);
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
server.run().then((address) => process.stdout.write(JSON.stringify({ port: address.port }) + '\\n'),
  (error) => { console.error(error); process.exit(1); });
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

const require = createRequire(import.meta.url);

export async function startS3(options: { bucket?: string } = {}): Promise<S3Handle> {
  const bucket = options.bucket ?? 'featurevis-test';
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), 'featurevis-s3-'));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', CHILD_SCRIPT, require.resolve('s3rver'), directory, bucket], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopped = false;
  const stop = async () => {
    if (!stopped) {
      stopped = true;
      child.stdin!.end();
      // Falls back to a kill if s3rver does not exit promptly on its own.
      const killer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(killer);
    }
    await fs.rm(directory, { recursive: true, force: true });
  };

  let stderr = '';
  child.stderr!.on('data', (chunk) => { stderr += chunk; });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let stdout = '';
      const timer = setTimeout(() => reject(new Error(`startS3: s3rver did not start within ${READY_TIMEOUT_MS} ms:\n${stderr}`)), READY_TIMEOUT_MS);
      child.stdout!.on('data', (chunk) => {
        stdout += chunk;
        const line = stdout.split('\n')[0];
        if (stdout.includes('\n')) { clearTimeout(timer); resolve((JSON.parse(line) as { port: number }).port); }
      });
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`startS3: s3rver exited (${code}):\n${stderr}`)); });
    });
    return {
      endpoint: `http://127.0.0.1:${port}`,
      bucket,
      // s3rver checks signatures against this fixed key pair.
      accessKeyId: 'S3RVER',
      secretAccessKey: 'S3RVER',
      stop,
    };
  } catch (error) {
    child.kill('SIGKILL');
    await stop();
    throw error;
  }
}
