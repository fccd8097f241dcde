/**
 * The local twin of the EventBridge rule `rate(1 minute)` that invokes the functions marked
 * `everyMinute` in the manifest.
 *
 * On AWS the rule fires `rate(1 minute)` and the ticker turns each firing into two ticks,
 * `tickSeconds` apart; here the timer fires every 2 × tickSeconds so the ticks keep the same
 * spacing when tickSeconds is shortened for a demo or a test. Deviations: the first firing is at
 * start (a new rule first fires after up to a minute), and a failed invocation is logged, not
 * retried (EventBridge's asynchronous invoke retries twice); the next firing comes anyway.
 */
import { randomUUID } from 'node:crypto';
import type { ScheduledEvent } from 'aws-lambda';
import { minuteRuleName } from '../manifest';
import { accountId, region } from './aws-identity';
import { invoke, type LoadedFunction } from './lambda-runtime';
import type { Logger } from './logger';
import { now } from '../../lib/clock';

export interface MinuteRuleOptions {
  functions: LoadedFunction[];
  intervalSeconds: number;
  /** Rule name prefix, as in the CDK stack. */
  prefix: string;
  logger: Logger;
}

export interface MinuteRule {
  /** Stops firing and resolves once the invocations in flight have settled. */
  stop(): Promise<void>;
}

/** What EventBridge sends a rule's target; `ScheduledEvent` is the name aws-lambda's types give it. */
function ruleEvent(ruleName: string): ScheduledEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: accountId,
    // EventBridge stamps whole seconds.
    time: now().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region,
    resources: [`arn:aws:events:${region}:${accountId}:rule/${ruleName}`],
    detail: {},
  };
}

export function startMinuteRule(options: MinuteRuleOptions): MinuteRule {
  const { functions, logger } = options;
  const inFlight = new Set<Promise<unknown>>();

  const fire = () => {
    for (const fn of functions) {
      const invocation: Promise<unknown> = invoke(fn, ruleEvent(minuteRuleName(options.prefix, fn.name)), logger)
        // invoke() has logged the failure; there is nothing to retry.
        .catch(() => undefined)
        .finally(() => inFlight.delete(invocation));
      inFlight.add(invocation);
    }
  };

  fire();
  const timer = setInterval(fire, options.intervalSeconds * 1000);

  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        clearInterval(timer);
        await Promise.all(inFlight);
      })();
      return stopped;
    },
  };
}
