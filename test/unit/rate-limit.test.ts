import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketWrites, retryAfterSeconds, take, tokenIntervalMs, tokensLeft, type RateLimit } from '../../lib/domain/rate-limit';

const t0 = Date.UTC(2026, 0, 1);

/** Takes at each time in turn; whether each was accepted. */
function run(limit: RateLimit, times: number[]): boolean[] {
  let fullAt: number | undefined;
  return times.map((at) => {
    const result = take(fullAt, at, limit);
    if (result.allowed) fullAt = result.fullAt;
    return result.allowed;
  });
}

/**
 * The store's way (lib/store/rate-limits.ts): the two conditional writes, then a refusal, with no
 * read of the bucket before writing.
 */
function storeTake(fullAt: number | undefined, nowMs: number, limit: RateLimit): number | 'refused' {
  const writes = bucketWrites(nowMs, limit);
  if (fullAt === undefined || fullAt <= writes.whenFull.fullAtAtMost) return writes.whenFull.fullAt;
  if (fullAt <= writes.whenTokenLeft.fullAtAtMost) return fullAt + writes.whenTokenLeft.add;
  return 'refused';
}

describe('the token bucket', () => {
  it('takes a whole minute’s worth at once, then refuses, saying when the next token is back', () => {
    const limit = { perMinute: 2 };
    expect(run(limit, [t0, t0, t0])).toEqual([true, true, false]);
    // Two taken at t0: full again at t0 + 60 s, one token back at t0 + 30 s.
    const fullAt = t0 + 60_000;
    expect(take(fullAt, t0, limit)).toEqual({ allowed: false, retryAfterSeconds: 30 });
    expect(take(fullAt, t0 + 29_001, limit)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(take(fullAt, t0 + 30_000, limit)).toEqual({ allowed: true, fullAt: t0 + 90_000 });
  });

  it('holds a busy registry to its rate: over ten minutes of a request every 100 ms, a minute’s burst plus the rate', () => {
    const limit = { perMinute: 120 };
    const times = Array.from({ length: 6000 }, (_, i) => t0 + i * 100);
    const accepted = run(limit, times).filter(Boolean).length;
    // 120 at once, then one every 500 ms for the remaining ~600 s.
    expect(accepted).toBeGreaterThanOrEqual(120 + 1199 - 1);
    expect(accepted).toBeLessThanOrEqual(120 + 1200);
  });

  it('refills while quiet, never above its size', () => {
    const limit = { perMinute: 60 };
    expect(tokensLeft(undefined, t0, limit)).toBe(60);
    expect(tokensLeft(t0 + 30_000, t0, limit)).toBe(30);
    expect(tokensLeft(t0 + 30_000, t0 + 10_000, limit)).toBe(40);
    expect(tokensLeft(t0, t0 + 3_600_000, limit)).toBe(60);
    // After an idle hour a registry again gets exactly a minute's worth at once.
    const afterIdle = Array.from({ length: 61 }, () => t0 + 3_600_000);
    expect(run(limit, [t0, ...afterIdle]).slice(1).filter(Boolean)).toHaveLength(60);
  });

  it('never says to retry in less than a second', () => {
    const limit = { perMinute: 6000 };
    expect(tokenIntervalMs(limit)).toBe(10);
    expect(retryAfterSeconds(t0 + 60_000 + 1, t0, limit)).toBe(1);
  });

  it('the store’s two conditional writes decide exactly as the bucket does, for any limit and any times', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 600 }),
        fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 300 }),
        (perMinute, gaps) => {
          const limit = { perMinute };
          let model: number | undefined;
          let stored: number | undefined;
          let now = t0;
          for (const gap of gaps) {
            now += gap;
            const expected = take(model, now, limit);
            const got = storeTake(stored, now, limit);
            expect(got === 'refused').toBe(!expected.allowed);
            if (expected.allowed) {
              expect(got).toBe(expected.fullAt);
              model = expected.fullAt;
              stored = got as number;
            }
          }
        },
      ),
    );
  });

  it('in any window of a minute accepts at most twice its rate (its burst, then its rate)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.array(fc.integer({ min: 0, max: 2_000 }), { minLength: 1, maxLength: 400 }), (perMinute, gaps) => {
        let now = t0;
        const times = gaps.map((gap) => (now += gap));
        const decisions = run({ perMinute }, times);
        const accepted = times.filter((_, i) => decisions[i]);
        for (const start of accepted) expect(accepted.filter((at) => at >= start && at < start + 60_000).length).toBeLessThanOrEqual(2 * perMinute);
      }),
      { numRuns: 50 },
    );
  });

  it('lets the bucket expire only once it is full again', () => {
    const limit = { perMinute: 10 };
    const writes = bucketWrites(t0, limit);
    const fullest = t0 + limit.perMinute * tokenIntervalMs(limit);
    expect(writes.expiresAt * 1000).toBeGreaterThan(fullest);
  });
});
