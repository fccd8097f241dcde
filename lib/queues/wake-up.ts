/**
 * How a wake-up reaches its rollout at the due time: a delayed message up to SQS's 15-minute
 * limit, a one-time EventBridge Scheduler schedule beyond. Both carry whole seconds, so the delay
 * and the schedule's time are rounded up: a wake-up should not arrive before its due time (if one
 * does, the evaluation sees the due time still ahead and sends another for the remainder).
 */

/** SQS stops per-message delays at 15 minutes. */
export const maxDelaySeconds = 900;

export type WakeUpRoute = { via: 'delay'; delaySeconds: number } | { via: 'schedule'; at: string };

export function wakeUpRoute(dueAt: string, now: Date, maxDelay: number = maxDelaySeconds): WakeUpRoute {
  const dueMs = Date.parse(dueAt);
  if (Number.isNaN(dueMs)) throw new Error(`due time "${dueAt}" is not a date`);
  const seconds = Math.max(0, Math.ceil((dueMs - now.getTime()) / 1000));
  if (seconds <= maxDelay) return { via: 'delay', delaySeconds: seconds };
  return { via: 'schedule', at: atExpressionTime(new Date(Math.ceil(dueMs / 1000) * 1000)) };
}

/** `yyyy-mm-ddThh:mm:ss` in UTC, the form `at(…)` takes (the schedule's time zone defaults to UTC). */
export function atExpressionTime(time: Date): string {
  return time.toISOString().slice(0, 19);
}
