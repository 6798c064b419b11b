// Builds the addon with node-gyp at install time, from source with the machine's compiler and Node's
// own headers: nothing is downloaded (node-gyp is given the headers' folder, npm's `nodedir` setting, or
// the folder above the running node, where Debian's and the official Node builds keep include/node).
// A failed build (no compiler, another architecture) is reported and is not an install error: the
// engine then runs its convolutions on XNNPACK as before (packages/engine/src/backends/wasm/native-conv.ts).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const packageFolder = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const nodeGyp = process.env.npm_config_node_gyp
  ?? path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const nodedir = process.env.npm_config_nodedir || path.join(path.dirname(process.execPath), '..');

function skip(reason) {
  console.warn(`@featurevis/native-conv: not built (${reason}); the engine's WASM backend runs convolutions on XNNPACK instead`);
  process.exit(0);
}

if (process.env.FEATUREVIS_NATIVE_CONV_BUILD === '0') skip('FEATUREVIS_NATIVE_CONV_BUILD=0');
if (process.arch !== 'x64') skip(`the kernels (AVX-512, AVX2) are x86-64 only; this is ${process.arch}`);
if (!existsSync(nodeGyp)) skip(`node-gyp not found at ${nodeGyp}`);
if (!existsSync(path.join(nodedir, 'include', 'node', 'node_api.h'))) skip(`no Node headers under ${nodedir}/include/node`);
const result = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`], { cwd: packageFolder, stdio: ['ignore', 'inherit', 'inherit'] });
if (result.status !== 0) skip(`node-gyp exited with ${result.status ?? result.signal}`);
