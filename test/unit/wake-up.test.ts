import { describe, expect, it } from 'vitest';
import { atExpressionTime, maxDelaySeconds, wakeUpRoute } from '../../lib/queues/wake-up';
import { wakeUpScheduleName } from '../../lib/queues/messages';

const now = new Date('2026-03-01T12:00:00.000Z');
const later = (ms: number) => new Date(now.getTime() + ms).toISOString();

describe('how a wake-up reaches its due time', () => {
  it('is a delayed message up to 15 minutes ahead, rounded up to whole seconds so it does not come early', () => {
    expect(maxDelaySeconds).toBe(900);
    expect(wakeUpRoute(later(5_000), now)).toEqual({ via: 'delay', delaySeconds: 5 });
    expect(wakeUpRoute(later(4_200), now)).toEqual({ via: 'delay', delaySeconds: 5 });
    expect(wakeUpRoute(later(900_000), now)).toEqual({ via: 'delay', delaySeconds: 900 });
  });

  it('is due now (no delay) when the due time has passed', () => {
    expect(wakeUpRoute(later(-3_000), now)).toEqual({ via: 'delay', delaySeconds: 0 });
  });

  it('is a one-time schedule beyond 15 minutes, at the due time rounded up to the second, in UTC', () => {
    expect(wakeUpRoute(later(900_001), now)).toEqual({ via: 'schedule', at: '2026-03-01T12:15:01' });
    expect(wakeUpRoute('2026-03-02T08:30:00.250Z', now)).toEqual({ via: 'schedule', at: '2026-03-02T08:30:01' });
    expect(wakeUpRoute('2026-03-01T13:00:00.000+02:00', now)).toEqual({ via: 'delay', delaySeconds: 0 });
  });

  it('takes a lower threshold (tests), never a higher one by default', () => {
    expect(wakeUpRoute(later(5_000), now, 2)).toEqual({ via: 'schedule', at: '2026-03-01T12:00:05' });
  });

  it('refuses a due time that is not a date', () => {
    expect(() => wakeUpRoute('soon', now)).toThrow(/not a date/);
  });

  it('formats at() times without milliseconds or zone', () => {
    expect(atExpressionTime(new Date('2026-12-31T23:59:59.000Z'))).toBe('2026-12-31T23:59:59');
  });
});

describe('the schedule of a wake-up', () => {
  it('is named after the rollout and the due time, so sending the wake-up again finds it', () => {
    const name = wakeUpScheduleName('ro-0123456789abcdef01234567', '2026-03-01T12:20:00.125Z');
    expect(name).toBe('wake-ro-0123456789abcdef01234567-20260301T122000.125');
    expect(wakeUpScheduleName('ro-0123456789abcdef01234567', '2026-03-01T12:20:00.125Z')).toBe(name);
    expect(wakeUpScheduleName('ro-0123456789abcdef01234567', '2026-03-01T12:20:00.126Z')).not.toBe(name);
  });

  it('stays within the 64 characters and the alphabet EventBridge Scheduler allows, whatever the rollout id', () => {
    const name = wakeUpScheduleName(`ro-${'x'.repeat(80)}/odd`, '2026-03-01T12:20:00.000Z');
    expect(name).toMatch(/^[0-9a-zA-Z_.-]{1,64}$/);
  });
});
