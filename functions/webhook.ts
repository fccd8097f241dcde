/** POST /api/v1/webhooks/{registry}: a registry says an image was pushed. */
import { requireConfig } from '../lib/config';
import { apiHandler } from '../lib/http/api';
import { parseWebhook } from '../lib/registry';
import { withDigests } from '../lib/registry/push-digests';
import { rolloutForPush, type PushOutcome, type RolloutSummary } from '../lib/rollouts/create-rollouts';
import { webhookSecret } from '../lib/secret-values';
import { now as clockNow } from '../lib/clock';

requireConfig({ table: true, queues: ['orchestration'], secrets: ['webhook'] });

export const handler = apiHandler(
  {
    'POST /api/v1/webhooks/{registry}': async (request) => {
      const now = clockNow();
      const { headers, query, rawBody } = request;
      const parsed = parseWebhook(request.params.registry!, { headers, query, body: rawBody }, await webhookSecret(), now);
      // Only once the sender is authenticated: a push without a digest gets the one its tag names now.
      const pushes = await withDigests(parsed);
      const rollouts: RolloutSummary[] = [];
      const outcomes: PushOutcome[] = [];
      for (const push of pushes) {
        const { outcome, rollout } = await rolloutForPush(push, now);
        outcomes.push(outcome);
        if (rollout) rollouts.push(rollout);
      }
      return { status: 202, body: { rollouts, pushes: outcomes } };
    },
  },
  { maxBodyBytes: 1024 * 1024 },
);
