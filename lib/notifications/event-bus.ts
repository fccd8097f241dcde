/**
 * Recorded events onto the EventBridge bus (AWS): source `fleet-rollout`, detail-type the event
 * type, detail the event as deliveries show it. PutEvents takes at most 10 entries a call and
 * may accept some and refuse others; the refused ones are sent again a few times, then the whole
 * message fails (its queue retries it; entries already accepted go again, and EventBridge
 * consumers tell copies apart by the event id in the detail).
 */
import { createRequire } from 'node:module';
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

/**
 * SEAM: `@aws-sdk/client-eventbridge` is not among the project's dependencies yet. Until it is,
 * the client comes from the Lambda runtime (nodejs22.x ships AWS SDK v3 under
 * /var/runtime/node_modules, on NODE_PATH, which `require` honours and ESM `import` does not),
 * loaded by name at run time so that neither the type check nor the bundle needs it; the
 * embedded host has no bus and never gets here. Once the package is added: import
 * `EventBridgeClient` and `PutEventsCommand` statically, build the client in lib/aws-clients.ts,
 * and keep this adapter's shape.
 */
let runtimeClient: Promise<PutEventsClient> | undefined;

export function eventBridgeClient(): Promise<PutEventsClient> {
  runtimeClient ??= (async () => {
    const moduleName = '@aws-sdk/client-eventbridge';
    const sdk = createRequire(import.meta.url)(moduleName) as {
      EventBridgeClient: new (config: object) => { send(command: unknown): Promise<{ Entries?: { ErrorCode?: string; ErrorMessage?: string }[] }> };
      PutEventsCommand: new (input: { Entries: BusEntry[] }) => unknown;
    };
    const client = new sdk.EventBridgeClient({});
    return {
      async putEvents(entries) {
        const answer = await client.send(new sdk.PutEventsCommand({ Entries: entries }));
        return entries.map((_, n) => {
          const entry = answer.Entries?.[n];
          return entry?.ErrorCode ? { errorCode: entry.ErrorCode, ...(entry.ErrorMessage ? { errorMessage: entry.ErrorMessage } : {}) } : {};
        });
      },
    };
  })();
  runtimeClient.catch(() => (runtimeClient = undefined));
  return runtimeClient;
}
