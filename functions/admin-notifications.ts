/** Admin API: notification subscriptions (webhooks and Slack incoming webhooks for rollout events). */
import { now } from '../lib/clock';
import { requireConfig } from '../lib/config';
import { apiHandler, pageParams } from '../lib/http/api';
import { adminOnly } from '../lib/http/auth';
import {
  createSubscription,
  pageOfSubscriptions,
  readSubscription,
  removeSubscription,
  replaceSubscription,
  subscriptionInputSchema,
} from '../lib/notifications/subscriptions';

requireConfig({ table: true });

export const handler = apiHandler(
  {
    'GET /api/v1/notifications': adminOnly(async (request) => {
      const { limit, cursor } = pageParams(request);
      return { status: 200, body: await pageOfSubscriptions(limit, cursor) };
    }),
    'POST /api/v1/notifications': adminOnly(async (request) => ({
      status: 201,
      body: await createSubscription(request.json(subscriptionInputSchema), now()),
    })),
    'GET /api/v1/notifications/{subscriptionId}': adminOnly(async (request) => ({
      status: 200,
      body: await readSubscription(request.params.subscriptionId!),
    })),
    'PUT /api/v1/notifications/{subscriptionId}': adminOnly(async (request) => ({
      status: 200,
      body: await replaceSubscription(request.params.subscriptionId!, request.json(subscriptionInputSchema), now()),
    })),
    'DELETE /api/v1/notifications/{subscriptionId}': adminOnly(async (request) => {
      await removeSubscription(request.params.subscriptionId!);
      return { status: 204 };
    }),
  },
  { maxBodyBytes: 16 * 1024 },
);
