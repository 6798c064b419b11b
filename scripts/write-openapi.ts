/** `npm run openapi`: regenerates openapi.yaml from the routes' schemas. */
import { writeFile } from 'node:fs/promises';
import { REPO_ROOT } from '@featurevis/config';
import { buildAppForDescription } from '../services/api/src/describe-app.ts';
import { openApiYaml } from '../services/api/src/openapi.ts';

const app = await buildAppForDescription();
await writeFile(`${REPO_ROOT}/openapi.yaml`, openApiYaml(app));
await app.close();
console.log('wrote openapi.yaml');
