/**
 * What a delivery carries, as plain functions: which subscriptions an event goes to, the body in
 * each format, its signature, and the delivery id a receiver de-duplicates by.
 */
import { createHash, createHmac } from 'node:crypto';
import { describeEvent } from '../domain/event-descriptions';
import type { RolloutEvent } from '../domain/types';

export const signatureHeader = 'x-fleet-signature-256';
export const deliveryHeader = 'x-fleet-delivery';
export const eventHeader = 'x-fleet-event';

/** `*` subscribes to every event type, including types added later. */
export const allEventTypes = '*';

export function matches(eventTypes: readonly string[], event: Pick<RolloutEvent, 'type'>): boolean {
  return eventTypes.includes(allEventTypes) || eventTypes.includes(event.type);
}

/**
 * Fixed by the subscription and the event, so every attempt to deliver one event to one
 * subscription (a retry, or a copy of the message SQS delivered twice) carries the same id.
 */
export function deliveryId(subscriptionId: string, eventId: string): string {
  const digest = createHash('sha256').update(`${subscriptionId}|${eventId}`).digest('hex');
  return `dlv_${digest.slice(0, 32)}`;
}

/** `sha256=<hex HMAC-SHA256 of the raw body>`, as GitHub signs its webhooks. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

export function eventDescription(event: RolloutEvent): string {
  return describeEvent(event).message;
}

/** The event as a notification shows it, and as the EventBridge bus gets it. */
export function eventDocument(event: RolloutEvent) {
  return {
    id: event.id,
    type: event.type,
    rollout_id: event.rollout_id,
    device_uuid: event.device_uuid ?? null,
    timestamp: event.timestamp,
    details: event.details,
    description: eventDescription(event),
  };
}

/** The raw body of a delivery: the event (`json`) or a Slack incoming-webhook message (`slack`). */
export function deliveryBody(format: 'json' | 'slack', event: RolloutEvent): string {
  if (format === 'json') return JSON.stringify(eventDocument(event));
  const device = event.device_uuid ? ` device ${event.device_uuid}` : '';
  return JSON.stringify({ text: `[${event.type}] rollout ${event.rollout_id}${device}: ${eventDescription(event)}` });
}
