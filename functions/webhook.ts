/** POST /api/v1/webhooks/{registry}: a registry says an image was pushed. */
import { now } from '../lib/clock';
import { requireConfig } from '../lib/config';
import { apiHandler } from '../lib/http/api';
import { receiveWebhook } from '../lib/registries/intake';

requireConfig({ table: true, queues: ['orchestration'], secrets: ['webhook'], registrySecrets: true });

export const handler = apiHandler(
  {
    'POST /api/v1/webhooks/{registry}': async (request) => {
      const { headers, query, rawBody } = request;
      const handled = await receiveWebhook(request.params.registry!, { headers, query, body: rawBody }, now());
      return { status: 202, body: handled };
    },
  },
  { maxBodyBytes: 1024 * 1024 },
);
