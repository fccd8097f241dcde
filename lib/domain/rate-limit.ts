/**
 * The token bucket that limits how many deliveries a registry gets accepted: it holds up to one
 * minute's worth of tokens (`per_minute`), refills one every `60 000 / per_minute` ms, and every
 * accepted delivery takes one. A quiet registry can send a whole minute's worth at once; a busy
 * one is held to its rate.
 *
 * The bucket is kept as one number, `fullAt`: the time (epoch ms) at which it would hold all its
 * tokens again. The tokens left at `now` follow from it (`tokensLeft`), and taking one moves it a
 * token's interval later. This is the form a store can change with single conditional writes and
 * no read (lib/store/rate-limits.ts), because the two cases of a take are each one write:
 *
 * - the bucket is full (`fullAt <= now`, or no bucket yet): set `fullAt = now + interval`;
 * - it still holds a token (`fullAt <= now + (capacity - 1) × interval`): add `interval`.
 *
 * When neither condition holds there is no token, and the wait until one is refilled is
 * `fullAt - (now + (capacity - 1) × interval)`. `fullAt` only ever moves later, so concurrent
 * takes by several processes never hand out a token twice. Pure: no clock, no store.
 */

export interface RateLimit {
  /** Deliveries accepted per minute on average; also the most accepted at once. */
  perMinute: number;
}

/** What a registry gets when it names no limit. */
export const defaultRatePerMinute = 120;
export const maxRatePerMinute = 60_000;

/** Milliseconds between two refilled tokens, rounded up to a whole millisecond. */
export function tokenIntervalMs(limit: RateLimit): number {
  return Math.ceil(60_000 / limit.perMinute);
}

/** How many tokens the bucket holds at `nowMs` (fractional while one is refilling). */
export function tokensLeft(fullAt: number | undefined, nowMs: number, limit: RateLimit): number {
  const interval = tokenIntervalMs(limit);
  const owed = fullAt === undefined ? 0 : Math.max(0, fullAt - nowMs);
  return Math.max(0, limit.perMinute - owed / interval);
}

export type Take = { allowed: true; fullAt: number } | { allowed: false; retryAfterSeconds: number };

/** The latest `fullAt` at which a token is left at `nowMs`. */
function lastFullAtWithToken(nowMs: number, limit: RateLimit): number {
  return nowMs + (limit.perMinute - 1) * tokenIntervalMs(limit);
}

/** Whole seconds until a token is back, at least 1 (a `Retry-After` of 0 invites a busy loop). */
export function retryAfterSeconds(fullAt: number, nowMs: number, limit: RateLimit): number {
  return Math.max(1, Math.ceil((fullAt - lastFullAtWithToken(nowMs, limit)) / 1000));
}

/** Takes one token at `nowMs`: the bucket's new `fullAt`, or how long until a token is back. */
export function take(fullAt: number | undefined, nowMs: number, limit: RateLimit): Take {
  const interval = tokenIntervalMs(limit);
  if (fullAt === undefined || fullAt <= nowMs) return { allowed: true, fullAt: nowMs + interval };
  if (fullAt <= lastFullAtWithToken(nowMs, limit)) return { allowed: true, fullAt: fullAt + interval };
  return { allowed: false, retryAfterSeconds: retryAfterSeconds(fullAt, nowMs, limit) };
}

/** The two conditional writes of a take at `nowMs`, as a store applies them (see the module comment). */
export interface BucketWrites {
  /** When `fullAt` is absent or at most `whenFull.fullAtAtMost`: set it to `whenFull.fullAt`. */
  whenFull: { fullAtAtMost: number; fullAt: number };
  /** Else, when `fullAt` is at most `whenTokenLeft.fullAtAtMost`: add `whenTokenLeft.add`. */
  whenTokenLeft: { fullAtAtMost: number; add: number };
  /** After this (epoch seconds) the bucket is full whatever was taken: it may be forgotten. */
  expiresAt: number;
}

export function bucketWrites(nowMs: number, limit: RateLimit): BucketWrites {
  const interval = tokenIntervalMs(limit);
  return {
    whenFull: { fullAtAtMost: nowMs, fullAt: nowMs + interval },
    whenTokenLeft: { fullAtAtMost: lastFullAtWithToken(nowMs, limit), add: interval },
    // fullAt is at most now + capacity × interval after either write; an hour's margin on top.
    expiresAt: Math.ceil((nowMs + limit.perMinute * interval) / 1000) + 3600,
  };
}
