/**
 * A private, throw-away Redis for tests: the system `redis-server` binary on a free port in a
 * temporary directory, with persistence off and `noeviction` (BullMQ requires it: an evicted
 * job key is a lost job).
 *
 *   const redis = await startRedis();
 *   const connection = new IORedis(redis.url, { maxRetriesPerRequest: null });
 *   ...
 *   await redis.stop();
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface RedisHandle {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Kills the server and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;

/** redis-server has no `--port 0`; ask the kernel for a free port by binding one and releasing it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function redisServerBinary(): string {
  const binary = process.env.REDIS_SERVER_BIN ?? 'redis-server';
  const probe = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(`startRedis: \`${binary}\` is not installed or does not run (${probe.error?.message ?? probe.stderr.trim()}). `
      + 'Install it with `apt-get install redis-server` (Redis >= 6.2), or point REDIS_SERVER_BIN at the binary.');
  }
  return binary;
}

/** One PING over a raw socket (RESP): true when the server answers +PONG. */
function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let answer = '';
    const done = (ok: boolean) => { socket.destroy(); resolve(ok); };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
  });
}

async function waitForPong(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`startRedis: redis-server exited (${child.exitCode ?? child.signalCode}) before answering PING:\n${output()}`);
    }
    if (await pingOnce(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`startRedis: no PONG on port ${port} within ${READY_TIMEOUT_MS} ms:\n${output()}`);
}

export async function startRedis(): Promise<RedisHandle> {
  const binary = redisServerBinary();
  // The free port can be taken by someone else between our probe and redis binding it; retry then.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const directory = await fs.mkdtemp(path.join(os.tmpdir(), 'featurevis-redis-'));
    const child = spawn(binary, [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', directory,
      '--save', '',
      '--appendonly', 'no',
      '--maxmemory-policy', 'noeviction',
      '--protected-mode', 'yes',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (chunk) => { output += chunk; });
    child.stderr!.on('data', (chunk) => { output += chunk; });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

    let stopped = false;
    const stop = async () => {
      if (!stopped) {
        stopped = true;
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      }
      await fs.rm(directory, { recursive: true, force: true });
    };

    try {
      await waitForPong(port, child, () => output);
      return { url: `redis://127.0.0.1:${port}`, port, stop };
    } catch (error) {
      await stop();
      if (attempt < 3 && /Address already in use/i.test(output)) continue;
      throw error;
    }
  }
}
