/**
 * The private redis-server that `npm start` and the tests start (startRedisServer) goes away with its
 * parent, also when the parent ends without calling stop() (process.exit, an uncaught error).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const moduleUrl = new URL('../src/redis-server.ts', import.meta.url).href;

/** Whether something accepts a connection on the port; a reachable server is asked to shut down. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.end('SHUTDOWN NOSAVE\r\n'); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

test('a redis-server started by a process that exits without stop() is gone after it', { timeout: 60_000 }, async () => {
  const script = `const { startRedisServer } = await import(${JSON.stringify(moduleUrl)}); const server = await startRedisServer(); console.log(server.port); process.exit(0);`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('../../..', import.meta.url)) });
  const port = Number(stdout.trim().split('\n').pop());
  assert.ok(port > 0, `no port printed: ${stdout}`);
  // SIGKILL is immediate, but the kernel may take a moment to close the socket.
  let alive = true;
  for (let i = 0; i < 50 && alive; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    alive = await probe(port);
  }
  if (alive) await answers(port); // do not leave it running when the test fails
  assert.equal(alive, false, `redis-server on port ${port} outlived its parent`);
});

/** A connection attempt only (no command), so a live server is left alone until the end. */
function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}
