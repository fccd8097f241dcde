/**
 * Recorded events onto the EventBridge bus (AWS): source `fleet-rollout`, detail-type the event
 * type, detail the event as deliveries show it. PutEvents takes at most 10 entries a call and
 * may accept some and refuse others; the refused ones are sent again a few times, then the whole
 * message fails (its queue retries it; entries already accepted go again, and EventBridge
 * consumers tell copies apart by the event id in the detail).
 */
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { eventBridge } from '../aws-clients';
import type { RolloutEvent } from '../domain/types';
import { eventDocument } from './payload';

export const eventSource = 'fleet-rollout';
const maxEntriesPerCall = 10;
const maxTries = 3;

export interface BusEntry {
  Source: string;
  DetailType: string;
  Detail: string;
  EventBusName: string;
  Time: Date;
}

/** What a PutEvents call answers, per entry in order: accepted, or the error that refused it. */
export interface PutEventsClient {
  putEvents(entries: BusEntry[]): Promise<{ errorCode?: string; errorMessage?: string }[]>;
}

export function busEntry(busName: string, event: RolloutEvent): BusEntry {
  return { Source: eventSource, DetailType: event.type, Detail: JSON.stringify(eventDocument(event)), EventBusName: busName, Time: new Date(event.timestamp) };
}

export async function publishToBus(busName: string, events: readonly RolloutEvent[], client: PutEventsClient, pause: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms))): Promise<void> {
  const entries = events.map((event) => busEntry(busName, event));
  for (let i = 0; i < entries.length; i += maxEntriesPerCall) {
    let pending = entries.slice(i, i + maxEntriesPerCall);
    for (let attempt = 1; pending.length > 0; attempt++) {
      const results = await client.putEvents(pending);
      const refused = pending.filter((_, n) => results[n]?.errorCode !== undefined || results[n] === undefined);
      if (refused.length === 0) break;
      if (attempt >= maxTries) {
        const first = results.find((r) => r?.errorCode);
        throw new Error(`EventBridge refused ${refused.length} event(s) after ${maxTries} tries: ${first?.errorCode ?? 'no result'} ${first?.errorMessage ?? ''}`.trim());
      }
      pending = refused;
      await pause(100 * 2 ** attempt);
    }
  }
}

/** PutEvents through the SDK client (lib/aws-clients.ts), answering per entry as `publishToBus` reads it. */
export const eventBridgeClient: PutEventsClient = {
  async putEvents(entries) {
    const answer = await eventBridge().send(new PutEventsCommand({ Entries: entries }));
    return entries.map((_, n) => {
      const entry = answer.Entries?.[n];
      return entry?.ErrorCode ? { errorCode: entry.ErrorCode, ...(entry.ErrorMessage ? { errorMessage: entry.ErrorMessage } : {}) } : {};
    });
  },
};
