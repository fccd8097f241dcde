/**
 * Notification subscriptions, as the admin API serves them. The secret a delivery is signed with
 * is shown once, in the answer to the create (generated when none is given), and never again.
 */
import { ulid } from 'ulid';
import { z } from 'zod';
import { config } from '../config';
import { eventTypes } from '../domain/types';
import { NotFound } from '../errors';
import { randomSecret } from '../secrets';
import {
  deleteSubscription as storeDelete,
  getSubscription,
  listSubscriptions,
  putSubscription,
  updateSubscription as storeUpdate,
  type StoredSubscription,
} from '../store/subscriptions';
import { checkDestination, maxUrlLength } from './destination';
import { allEventTypes } from './payload';
import { forgetCachedSubscriptions } from './subscription-cache';

const subscribableTypes = [allEventTypes, ...eventTypes] as const;

/** The body of `POST /api/v1/notifications` and `PUT /api/v1/notifications/{subscriptionId}`. */
export const subscriptionInputSchema = z.strictObject({
  url: z.string().min(1).max(maxUrlLength),
  event_types: z
    .array(z.enum(subscribableTypes, { message: `must be one of ${subscribableTypes.join(', ')}` }))
    .min(1, 'must name at least one event type, or "*" for all')
    .max(subscribableTypes.length * 2),
  format: z.enum(['json', 'slack']).default('json'),
  /** Given: used as is. Absent on create: one is generated; absent on update: the current one stays. */
  secret: z.string().min(16, 'must be at least 16 characters').max(256).optional(),
});
export type SubscriptionInput = z.infer<typeof subscriptionInputSchema>;

export const deliveryOutcomeSchema = z.object({
  status: z.enum(['delivered', 'failed']),
  at: z.string(),
  delivery_id: z.string(),
  event_type: z.string(),
  attempt: z.number().int(),
  http_status: z.number().int().nullable(),
  error: z.string().nullable(),
});

/** A subscription as every answer shows it: never its secret. */
export const subscriptionViewSchema = z.object({
  id: z.string(),
  url: z.string(),
  event_types: z.array(z.string()),
  format: z.enum(['json', 'slack']),
  created_at: z.string(),
  updated_at: z.string(),
  last_delivery: deliveryOutcomeSchema.nullable(),
});
export type SubscriptionView = z.infer<typeof subscriptionViewSchema>;

/** `201` of a create: the only answer that carries the secret. */
export const createdSubscriptionSchema = z.object({ subscription: subscriptionViewSchema, secret: z.string() });
export const subscriptionResponseSchema = z.object({ subscription: subscriptionViewSchema });
export const subscriptionListSchema = z.object({ subscriptions: z.array(subscriptionViewSchema), next_cursor: z.string().nullable() });

export function subscriptionView(stored: StoredSubscription): SubscriptionView {
  return {
    id: stored.id,
    url: stored.url,
    event_types: stored.event_types,
    format: stored.format,
    created_at: stored.created_at,
    updated_at: stored.updated_at,
    last_delivery: stored.last_delivery ?? null,
  };
}

/** `*` alone when it is named (it covers the rest), otherwise each type once. */
function normalisedTypes(types: readonly string[]): string[] {
  return types.includes(allEventTypes) ? [allEventTypes] : [...new Set(types)];
}

export async function createSubscription(input: SubscriptionInput, now: Date) {
  const url = checkDestination(input.url, config().notificationPolicy);
  const at = now.toISOString();
  const secret = input.secret ?? `whsec_${randomSecret()}`;
  const record: StoredSubscription = {
    id: `sub_${ulid(now.getTime()).toLowerCase()}`,
    url: url.href,
    event_types: normalisedTypes(input.event_types),
    format: input.format,
    secret,
    created_at: at,
    updated_at: at,
  };
  await putSubscription(record);
  forgetCachedSubscriptions();
  return { subscription: subscriptionView(record), secret };
}

export async function pageOfSubscriptions(limit: number, cursor?: string) {
  const page = await listSubscriptions(limit, cursor);
  return { subscriptions: page.items.map(subscriptionView), next_cursor: page.next_cursor };
}

export async function readSubscription(id: string) {
  const stored = await getSubscription(id);
  if (!stored) throw new NotFound(`subscription ${id} not found`);
  return { subscription: subscriptionView(stored) };
}

export async function replaceSubscription(id: string, input: SubscriptionInput, now: Date) {
  const url = checkDestination(input.url, config().notificationPolicy);
  const updated = await storeUpdate(id, {
    url: url.href,
    event_types: normalisedTypes(input.event_types),
    format: input.format,
    updated_at: now.toISOString(),
    ...(input.secret ? { secret: input.secret } : {}),
  });
  if (!updated) throw new NotFound(`subscription ${id} not found`);
  forgetCachedSubscriptions();
  return { subscription: subscriptionView(updated) };
}

export async function removeSubscription(id: string): Promise<void> {
  if (!(await storeDelete(id))) throw new NotFound(`subscription ${id} not found`);
  forgetCachedSubscriptions();
}
