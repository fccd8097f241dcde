/**
 * The time the system's decisions are made at: due times, deadlines, maintenance windows, the
 * times events record. On AWS it is the wall clock. The embedded host can move it forward
 * (`Host.clock`), so a test sees an approval deadline pass or a maintenance window open without
 * waiting hours for it; wall-clock budgets (how long an invocation may still work) keep `Date.now()`.
 */
let offsetMs = 0;
const listeners = new Set<() => void>();

export function now(): Date {
  return new Date(Date.now() + offsetMs);
}

export function nowMs(): number {
  return Date.now() + offsetMs;
}

/**
 * Moves the clock by `ms` (never backwards: due times already reached stay reached). For the
 * embedded host and its tests only; nothing on AWS calls it.
 */
export function advanceClock(ms: number): void {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`the clock only moves forward; got ${ms} ms`);
  offsetMs += ms;
  for (const listener of listeners) listener();
}

/** Puts the clock back on the wall clock (a host that stops leaves no offset to the next). */
export function resetClock(): void {
  offsetMs = 0;
  for (const listener of listeners) listener();
}

/** Called after every move of the clock (the embedded scheduler re-arms its timers); returns the unsubscribe. */
export function onClockMove(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
