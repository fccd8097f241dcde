/**
 * One attempt to deliver one event to one subscription, and what follows from its outcome.
 *
 * An attempt is a POST of the signed body with a short timeout; redirects are not followed (a
 * 3xx is a failure: following it would take the delivery past the destination check), and the
 * connection goes only to an address the policy allows, checked after resolution and before
 * connecting (the health checks' guarded lookup). Every attempt of one event to one subscription
 * carries the same delivery id.
 *
 * Retries ride on the deliveries queue: a failed attempt sends the next as a new message,
 * delayed by the backoff, and is done. The message says its attempt number: SQS's receive count
 * cannot, as it also counts receives after a crash (and local-aws-sqs counts a visibility change
 * as a receive). When the last attempt fails, its message is failed until the queue moves it to
 * the dead-letter queue, which so holds the deliveries that failed every attempt; receives of it
 * after the first do not try again (a crash in the last attempt also ends there, to be redriven).
 */
import http from 'node:http';
import https from 'node:https';
import type { SQSRecord } from 'aws-lambda';
import { config } from '../config';
import { AddressNotAllowed, guardedLookup } from '../health/probe';
import type { AddressPolicy } from '../health/address-policy';
import { receiveCountOf } from '../queues/consume';
import { notificationDeliveryAttempts } from '../queues/names';
import { logger } from '../logger';
import { getSubscription, recordDeliveryOutcome, type StoredSubscription } from '../store/subscriptions';
import { checkDestination } from './destination';
import { returnDeliveryNow, sendDeliveryRetry, type DeliveryMessage } from './messages';
import { deliveryBody, deliveryHeader, deliveryId, eventHeader, signature, signatureHeader } from './payload';
import { now as clockNow } from '../clock';

/** Per attempt: a receiver that does not answer in this time has failed this attempt. */
export const attemptTimeoutMs = 5_000;
/** A retry waits at most this long (SQS's visibility timeout goes up to 12 hours). */
const maxBackoffSeconds = 900;

/** Seconds before attempt `attempt + 1`, after attempt `attempt` (1-based) failed: doubling, capped, with a little jitter. */
export function backoffSeconds(attempt: number, baseSeconds: number, random: () => number = Math.random): number {
  const exponential = Math.min(maxBackoffSeconds, baseSeconds * 2 ** Math.max(0, attempt - 1));
  return Math.min(maxBackoffSeconds, Math.ceil(exponential * (1 + 0.2 * random())));
}

export interface AttemptResult {
  ok: boolean;
  httpStatus: number | null;
  error: string | null;
}

/** POSTs `body` to `url`; never rejects. */
export function postOnce(url: URL, body: string, headers: Record<string, string>, policy: AddressPolicy, timeoutMs = attemptTimeoutMs): Promise<AttemptResult> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    const done = (result: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      resolve(result);
    };
    const request = client.request(url, {
      method: 'POST',
      agent: false,
      lookup: guardedLookup(policy, 'notifications'),
      headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'fleet-rollout-notifications', ...headers },
    });
    const timer = setTimeout(() => done({ ok: false, httpStatus: null, error: `no answer within ${timeoutMs / 1000} s` }), timeoutMs);
    request.on('error', (error: Error & { code?: string }) =>
      done({ ok: false, httpStatus: null, error: error instanceof AddressNotAllowed ? error.message : `${error.code ? `${error.code}: ` : ''}${error.message || 'connection failed'}` }),
    );
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      // The status is the answer; the body is not read beyond what arrives before we close.
      response.resume();
      if (status >= 200 && status < 300) return done({ ok: true, httpStatus: status, error: null });
      const location = status >= 300 && status < 400 && response.headers.location ? ` (redirect to ${response.headers.location} not followed)` : '';
      done({ ok: false, httpStatus: status, error: `HTTP ${status}${location}` });
    });
    request.end(body);
  });
}

/** The request of one attempt: body and headers, the same on every attempt but for the attempt number. */
export function deliveryRequest(subscription: StoredSubscription, event: DeliveryMessage['event'], attempt: number) {
  const body = deliveryBody(subscription.format, event);
  const id = deliveryId(subscription.id, event.id);
  return {
    id,
    body,
    headers: { [signatureHeader]: signature(subscription.secret, body), [deliveryHeader]: id, [eventHeader]: event.type, 'x-fleet-delivery-attempt': String(attempt) },
  };
}

/**
 * Handles one receive of a delivery message: resolves when it is done with (delivered, the next
 * attempt queued, or nobody left to deliver to), rejects when the message is to stay (and end in
 * the dead-letter queue).
 */
export async function deliverNotification(message: DeliveryMessage, record: Pick<SQSRecord, 'receiptHandle' | 'attributes'>, now: () => Date = clockNow): Promise<void> {
  const last = message.attempt >= notificationDeliveryAttempts;
  if (last && receiveCountOf(record as SQSRecord) > 1) {
    await returnDeliveryNow(record.receiptHandle);
    throw new Error(`delivery of ${message.event.id} to ${message.subscription_id}: no attempts left, on its way to the dead-letter queue`);
  }
  const subscription = await getSubscription(message.subscription_id, true);
  // Deleted since the event was recorded: nobody to deliver to.
  if (!subscription) return;
  const { notificationPolicy, notificationRetryBaseSeconds } = config();
  const request = deliveryRequest(subscription, message.event, message.attempt);
  let result: AttemptResult;
  try {
    result = await postOnce(checkDestination(subscription.url, notificationPolicy), request.body, request.headers, notificationPolicy);
  } catch (error) {
    // The URL no longer passes (the allowed ranges changed): this attempt fails like any other.
    result = { ok: false, httpStatus: null, error: error instanceof Error ? error.message : String(error) };
  }
  await recordDeliveryOutcome(subscription.id, {
    status: result.ok ? 'delivered' : 'failed',
    at: now().toISOString(),
    delivery_id: request.id,
    event_type: message.event.type,
    attempt: message.attempt,
    http_status: result.httpStatus,
    error: result.error,
  });
  if (result.ok) return;
  if (!last) {
    await sendDeliveryRetry({ ...message, attempt: message.attempt + 1 }, backoffSeconds(message.attempt, notificationRetryBaseSeconds));
    logger.info('notification delivery failed; retrying', { subscription_id: subscription.id, delivery_id: request.id, attempt: message.attempt, error: result.error });
    return;
  }
  await returnDeliveryNow(record.receiptHandle);
  throw new Error(`delivery ${request.id} to ${subscription.id} failed on its last attempt (${message.attempt}), on its way to the dead-letter queue: ${result.error ?? 'unknown'}`);
}
