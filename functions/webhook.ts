/** POST /api/v1/webhooks/{registry}: a registry says an image was pushed. */
import { apiHandler } from '../lib/http/api';
import { parseWebhook } from '../lib/registry';
import { rolloutsForPush, type RolloutSummary } from '../lib/rollouts/create-rollouts';
import { webhookSecret } from '../lib/secret-values';

export const handler = apiHandler(
  {
    'POST /api/v1/webhooks/{registry}': async (request) => {
      const now = new Date();
      const { headers, query, rawBody } = request;
      const pushes = parseWebhook(request.params.registry!, { headers, query, body: rawBody }, await webhookSecret(), now);
      const rollouts: RolloutSummary[] = [];
      for (const push of pushes) rollouts.push(...(await rolloutsForPush(push, now)));
      return { status: 202, body: { rollouts } };
    },
  },
  { maxBodyBytes: 1024 * 1024 },
);
