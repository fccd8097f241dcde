/**
 * How recorded events leave for the EventBridge bus and the subscriptions: appendEvents hands
 * every event it was asked to record here, after its writes, whether it wrote the event now or
 * found it written by an earlier attempt, and this sends them to the notify queue, one message
 * per page of events.
 *
 * Why this is enough never to lose one (no outbox, no stream): the table keeps every fact's
 * record even if a crash cuts the send off, and the code that records facts already has to
 * record them again after a crash (DESIGN §6, invariant 9): a rollout's events stay in its
 * item's outbox until appendEvent has returned for each (lib/store/rollouts.ts), and a device's
 * transition found done on a retry has its facts passed to appendMissingEvents. So a retry after
 * a crash between the write and the send passes the same events here again and they are sent
 * then. The price is duplicates: a retried page sends its events again, and each delivery
 * carries an id fixed by subscription and event for the receiver to de-duplicate by.
 * DynamoDB Streams would need a twin on the embedded host (dynalite has none); an outbox of its
 * own would be one more write per page while nobody subscribes.
 *
 * While nothing listens (no bus configured, no subscription matching) nothing is sent; the
 * subscriptions are read from a cache of a few seconds, so recording stays one write per page.
 */
import { config } from '../config';
import type { RolloutEvent } from '../domain/types';
import { sendRecordedEvents } from './messages';
import { matches } from './payload';
import { cachedSubscriptions } from './subscription-cache';

export async function notifyRecorded(events: readonly RolloutEvent[]): Promise<void> {
  if (events.length === 0) return;
  if (!config().eventBusName) {
    const subscriptions = await cachedSubscriptions();
    if (!events.some((event) => subscriptions.some((s) => matches(s.event_types, event)))) return;
  }
  await sendRecordedEvents(events);
}
