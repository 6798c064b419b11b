/**
 * Object storage for featurevis: images, metadata and uploaded models, behind one small
 * interface (types.ts) with two drivers. The worker writes results; the API reads them or
 * hands out their URLs. Build one with createStorage(config) at start-up.
 */
import { LocalStorage } from './local.ts';
import { S3Storage } from './s3.ts';
import type { Storage } from './types.ts';

export { NotFoundError } from './types.ts';
export type { PutOptions, Storage, UrlOptions } from './types.ts';
export { InvalidKeyError, MAX_KEY_LENGTH, assertValidKey, assertValidPrefix, isValidKey } from './keys.ts';
export { contentTypeForKey } from './content-type.ts';
export { LocalStorage, type LocalStorageOptions } from './local.ts';
export { S3Storage, type S3StorageOptions } from './s3.ts';

export type StorageConfig =
  | { driver: 'local'; dataDir: string; publicBaseUrl: string }
  | ({ driver: 's3' } & S3StorageConfig);

type S3StorageConfig = ConstructorParameters<typeof S3Storage>[0];

/** The driver the configuration names. Touches nothing: call `ensureReady()` at start-up. */
export function createStorage(config: StorageConfig): Storage {
  switch (config.driver) {
    case 'local':
      return new LocalStorage({ dataDir: config.dataDir, publicBaseUrl: config.publicBaseUrl });
    case 's3': {
      const { driver: _driver, ...options } = config;
      return new S3Storage(options);
    }
  }
}
