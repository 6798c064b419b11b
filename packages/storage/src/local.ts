/**
 * The local filesystem driver: one file per object under a data directory. It is the default
 * (`npm start` needs no S3), and the API serves its objects at `/v1/files/<key>`.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { assertValidKey, assertValidPrefix } from './keys.ts';
import { NotFoundError, type PutOptions, type Storage } from './types.ts';

export interface LocalStorageOptions {
  /** Root of the stored objects; created by ensureReady() or on the first put. */
  dataDir: string;
  /** Base URL clients reach the API at, e.g. `http://127.0.0.1:3000` (no trailing slash needed). */
  publicBaseUrl: string;
}

export class LocalStorage implements Storage {
  readonly driver = 'local' as const;
  readonly dataDir: string;
  readonly publicBaseUrl: string;

  constructor(options: LocalStorageOptions) {
    this.dataDir = path.resolve(options.dataDir);
    this.publicBaseUrl = options.publicBaseUrl.replace(/\/+$/, '');
  }

  /** The file an object lives in. Keys are validated first, so the path never leaves dataDir. */
  pathOf(key: string): string {
    assertValidKey(key);
    return path.join(this.dataDir, ...key.split('/'));
  }

  async put(key: string, body: Uint8Array | string, _options?: PutOptions): Promise<void> {
    const target = this.pathOf(key);
    const directory = path.dirname(target);
    await fs.mkdir(directory, { recursive: true });
    // Atomic replace: write a temporary file in the same directory (same filesystem), then
    // rename over the target, so a concurrent reader sees the old object or the new one,
    // never a prefix. The leading dot keeps the temp file out of list() (keys can't start with `.`).
    const temporary = path.join(directory, `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const file = await fs.open(temporary, 'wx');
      try {
        await file.writeFile(body);
        await file.sync(); // the data is on disk before the rename makes it visible
      } finally {
        await file.close();
      }
      await fs.rename(temporary, target);
    } catch (error) {
      await fs.rm(temporary, { force: true });
      throw error;
    }
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      const buffer = await fs.readFile(this.pathOf(key));
      return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    } catch (error) {
      if (isMissing(error)) throw new NotFoundError(key);
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await fs.stat(this.pathOf(key))).isFile();
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    assertValidPrefix(prefix);
    // Only the directory that holds the prefix's last complete segment can contain matches;
    // walk it recursively and keep the keys that start with the prefix (S3 semantics).
    const lastSlash = prefix.lastIndexOf('/');
    const baseKey = lastSlash === -1 ? '' : prefix.slice(0, lastSlash);
    const keys: string[] = [];
    await this.walk(baseKey, keys);
    return keys.filter((key) => key.startsWith(prefix)).sort();
  }

  private async walk(directoryKey: string, into: string[]): Promise<void> {
    const directory = directoryKey === '' ? this.dataDir : path.join(this.dataDir, ...directoryKey.split('/'));
    let entries;
    try {
      entries = await fs.readdir(directory, { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue; // temporary files of in-flight puts
      const key = directoryKey === '' ? entry.name : `${directoryKey}/${entry.name}`;
      if (entry.isDirectory()) await this.walk(key, into);
      else if (entry.isFile()) into.push(key);
    }
  }

  async delete(key: string): Promise<void> {
    // Like S3, deleting an absent object succeeds. Empty parent directories are left in place:
    // removing them could race with a concurrent put into the same directory.
    await fs.rm(this.pathOf(key), { force: true });
  }

  async url(key: string): Promise<string> {
    assertValidKey(key);
    return `${this.publicBaseUrl}/v1/files/${key}`;
  }

  async ping(): Promise<void> {
    await fs.access(this.dataDir, fsConstants.R_OK | fsConstants.W_OK);
  }

  async ensureReady(): Promise<void> {
    await fs.mkdir(this.dataDir, { recursive: true });
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  // ENOTDIR: a key whose parent segment is a file; EISDIR: a key that names a directory.
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}
