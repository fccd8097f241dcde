/**
 * The local twin of the EventBridge rules on the account's default bus that invoke the functions
 * marked `onEvents` (an ECR push). No AWS service emits events here, so they are delivered by
 * `Host.deliverEvent`, which matches each against every rule as EventBridge does and invokes the
 * functions whose pattern matches.
 *
 * Deviations: only the pattern shapes the manifest uses are understood (lists of exact values
 * under `source`, `detail-type` and the fields of `detail`); and the invocation is awaited and
 * its failure thrown to the caller, where EventBridge invokes asynchronously and retries twice.
 */
import type { EventPattern } from '../manifest';
import { invoke, type LoadedFunction } from './lambda-runtime';
import type { Logger } from './logger';

/** True when the event matches every field of the pattern. */
export function matchesPattern(pattern: EventPattern, event: Readonly<Record<string, unknown>>): boolean {
  const oneOf = (allowed: readonly string[], value: unknown) => typeof value === 'string' && allowed.includes(value);
  if (!oneOf(pattern.source, event.source) || !oneOf(pattern['detail-type'], event['detail-type'])) return false;
  const detail = event.detail;
  return Object.entries(pattern.detail ?? {}).every(
    ([field, allowed]) => typeof detail === 'object' && detail !== null && oneOf(allowed, (detail as Record<string, unknown>)[field]),
  );
}

export interface DeliveredEvent {
  function: string;
  result: unknown;
}

export function eventRules(functions: readonly LoadedFunction[], logger: Logger) {
  const ruled = functions.filter((fn) => fn.spec.onEvents !== undefined);
  return {
    /** Invokes every function whose rule matches the event; what each returned. */
    async deliver(event: Readonly<Record<string, unknown>>): Promise<DeliveredEvent[]> {
      const matching = ruled.filter((fn) => matchesPattern(fn.spec.onEvents!, event));
      return Promise.all(matching.map(async (fn) => ({ function: fn.name, result: await invoke(fn, event, logger) })));
    },
  };
}
