/** The API process (docker-compose's `api` service). */
import { loadConfig } from '@featurevis/config';
import { startApi } from './server.ts';

const config = loadConfig();
const api = await startApi(config);
api.app.log.info({ url: api.url }, 'featurevis API listening');
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { api.close().then(() => process.exit(0), () => process.exit(1)); });
}
