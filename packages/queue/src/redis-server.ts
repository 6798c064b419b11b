/**
 * A private redis-server: the system binary on a free port. The embedded start (`npm start` without
 * REDIS_URL) keeps its data under DATA_DIR/redis; tests use a temporary one. Persistence is the
 * append-only file, and `noeviction` always (BullMQ requires it: an evicted job key is a lost job).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface RedisServerHandle {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Stops the server (and removes its directory when it was temporary). Safe to call twice. */
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
    throw new Error(`redis-server: \`${binary}\` is not installed or does not run (${probe.error?.message ?? probe.stderr.trim()}). `
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
      throw new Error(`redis-server: redis-server exited (${child.exitCode ?? child.signalCode}) before answering PING:\n${output()}`);
    }
    if (await pingOnce(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`redis-server: no PONG on port ${port} within ${READY_TIMEOUT_MS} ms:\n${output()}`);
}

export interface RedisServerOptions {
  /** Keep data here (append-only file on); unset: a temporary directory, nothing kept, removed on stop. */
  dataDir?: string;
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServerHandle> {
  const binary = redisServerBinary();
  // The free port can be taken by someone else between our probe and redis binding it; retry then.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const temporary = !options.dataDir;
    const directory = options.dataDir ?? await fs.mkdtemp(path.join(os.tmpdir(), 'featurevis-redis-'));
    await fs.mkdir(directory, { recursive: true });
    const child = spawn(binary, [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', directory,
      '--save', '',
      '--appendonly', temporary ? 'no' : 'yes',
      '--maxmemory-policy', 'noeviction',
      '--protected-mode', 'yes',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (chunk) => { output = (output + chunk).slice(-20000); });
    child.stderr!.on('data', (chunk) => { output = (output + chunk).slice(-20000); });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

    // A parent that ends without stop() (process.exit, an uncaught error) must not leave its
    // redis-server running: 'exit' handlers run synchronously, so the child is signalled, not awaited.
    const killOnExit = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(temporary ? 'SIGKILL' : 'SIGTERM');
    };
    process.once('exit', killOnExit);

    let stopped = false;
    const stop = async () => {
      if (!stopped) {
        stopped = true;
        process.removeListener('exit', killOnExit);
        // SIGTERM lets a persistent server flush its append-only file; a temporary one is just killed.
        if (child.exitCode === null && child.signalCode === null) child.kill(temporary ? 'SIGKILL' : 'SIGTERM');
        await exited;
      }
      if (temporary) await fs.rm(directory, { recursive: true, force: true });
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
