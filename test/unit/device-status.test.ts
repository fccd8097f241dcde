import { describe, expect, it } from 'vitest';
import { deviceStatusOf, offlineAfterMs } from '../../lib/domain/device-status';

describe('deviceStatusOf', () => {
  const now = new Date('2030-01-01T12:00:00.000Z');
  const ago = (ms: number) => new Date(now.getTime() - ms).toISOString();

  it('puts silence first, then an error, then a rollout under way', () => {
    expect(deviceStatusOf({ reported_at: null, current_error: null }, now)).toBe('offline');
    expect(deviceStatusOf({ reported_at: ago(offlineAfterMs + 1), current_error: 'boom', rollouts: { main: {} } }, now)).toBe('offline');
    expect(deviceStatusOf({ reported_at: ago(offlineAfterMs), current_error: 'boom', rollouts: { main: {} } }, now)).toBe('error');
    expect(deviceStatusOf({ reported_at: ago(1000), current_error: null, rollouts: { main: {} } }, now)).toBe('updating');
    expect(deviceStatusOf({ reported_at: ago(1000), current_error: null, rollouts: {} }, now)).toBe('online');
  });
});
