/**
 * Maintenance windows: the times a policy's rollouts may start batches. A window opens at each
 * time its cron expression names, in its time zone, and stays open for its duration. A batch may
 * start only while a window is open; a batch under way is never cut short by one closing.
 */
import { CronExpressionParser } from 'cron-parser';

export interface MaintenanceWindow {
  /** Five fields: minute hour day-of-month month day-of-week (`0 2 * * *`: 02:00 every day). */
  cron: string;
  duration_minutes: number;
  /** An IANA time zone (`Europe/Berlin`); the cron's times are wall-clock times there. */
  timezone: string;
}

export const maxMaintenanceWindows = 10;
export const maxWindowMinutes = 7 * 24 * 60;

/** Why `timezone` is not one the runtime knows, or undefined when it is. */
export function timezoneProblem(timezone: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
    return undefined;
  } catch {
    return `unknown time zone "${timezone}" (use an IANA name such as "Europe/Berlin" or "UTC")`;
  }
}

/** Why `cron` cannot open a window, or undefined when it can. */
export function cronProblem(cron: string): string | undefined {
  const fields = cron.trim().split(/\s+/);
  // A sixth field would be seconds (or years): windows open on minutes.
  if (fields.length !== 5) return `must have 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}`;
  try {
    CronExpressionParser.parse(cron, { strict: false });
    return undefined;
  } catch (error) {
    return `is not a cron expression: ${error instanceof Error ? error.message : String(error)}`;
  }
}

export type WindowState = { open: true; closes_at: Date } | { open: false; opens_at: Date | undefined };

/**
 * Whether a window is open at `at`, and until when; or when the next one opens (undefined when
 * none ever does, which validation makes rare: a cron naming the 30th of February).
 */
export function windowState(windows: readonly MaintenanceWindow[], at: Date): WindowState {
  let closesAt: number | undefined;
  let opensAt: number | undefined;
  for (const window of windows) {
    const lengthMs = window.duration_minutes * 60_000;
    // The last opening at or before `at` (cron-parser's prev is strictly before its current date).
    const past = CronExpressionParser.parse(window.cron, { currentDate: new Date(at.getTime() + 1), tz: window.timezone });
    if (past.hasPrev()) {
      const opened = past.prev().getTime();
      if (at.getTime() < opened + lengthMs) closesAt = Math.max(closesAt ?? 0, opened + lengthMs);
    }
    const future = CronExpressionParser.parse(window.cron, { currentDate: at, tz: window.timezone });
    if (future.hasNext()) {
      const next = future.next().getTime();
      opensAt = Math.min(opensAt ?? Infinity, next);
    }
  }
  if (closesAt !== undefined) return { open: true, closes_at: new Date(closesAt) };
  return { open: false, opens_at: opensAt === undefined ? undefined : new Date(opensAt) };
}
