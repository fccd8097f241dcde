import { describe, expect, it } from 'vitest';
import { reportOutcome, runsRolloutImage, splitDigest } from '../../lib/domain/device-report';
import { isNewerPush, rolloutRank } from '../../lib/domain/push-order';

const d = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const running = (image: string, extra: Record<string, unknown> = {}) => ({ apps: [{ name: 'main', image, status: 'running', ...extra }] });

describe('what a report means for an app under rollout', () => {
  it('is updated once the app runs the new tag', () => {
    expect(reportOutcome('main', { image: 'acme/app:v2' }, running('acme/app:v2'))).toEqual({ to: 'updated' });
    expect(reportOutcome('main', { image: 'acme/app:v2' }, running('acme/app:v1'))).toBeUndefined();
    expect(reportOutcome('other', { image: 'acme/app:v2' }, running('acme/app:v2'))).toBeUndefined();
  });

  it('fails on an app status that means it did not come up, or on a device error', () => {
    expect(reportOutcome('main', { image: 'acme/app:v2' }, { apps: [{ name: 'main', image: 'acme/app:v2', status: 'Crashed' }] })).toEqual({
      to: 'failed',
      reason: 'app main reported Crashed',
    });
    expect(reportOutcome('main', { image: 'acme/app:v2' }, { ...running('acme/app:v1'), error: 'pull failed: 401' })).toEqual({ to: 'failed', reason: 'pull failed: 401' });
    // Still pulling, not failed.
    expect(reportOutcome('main', { image: 'acme/app:v2' }, { apps: [{ name: 'main', image: 'acme/app:v2', status: 'pulling' }] })).toBeUndefined();
  });

  it('holds a pinned digest to the digest the device runs', () => {
    const target = { image: `acme/app:latest@${d(2)}`, digest: d(2) };
    expect(runsRolloutImage(target, { image: 'acme/app:latest', digest: d(1) })).toBe(false);
    expect(runsRolloutImage(target, { image: 'acme/app:latest', digest: d(2) })).toBe(true);
    expect(runsRolloutImage(target, { image: `acme/app:latest@${d(2)}` })).toBe(true);
    // An agent that names no digest is taken at its word.
    expect(runsRolloutImage(target, { image: 'acme/app:latest' })).toBe(true);
  });

  it('tells new content from old under a moving tag by the version applied, else by the digest', () => {
    const target = { image: 'acme/app:latest', previous_digest: d(1), target_version: 7 };
    expect(runsRolloutImage(target, { image: 'acme/app:latest', digest: d(1) }, 6)).toBe(false);
    // Applied after the push: whatever the pull brought is the pushed content (or newer).
    expect(runsRolloutImage(target, { image: 'acme/app:latest', digest: d(1) }, 7)).toBe(true);
    expect(runsRolloutImage(target, { image: 'acme/app:latest', digest: d(1) })).toBe(false);
    expect(runsRolloutImage(target, { image: 'acme/app:latest', digest: d(3) })).toBe(true);
    expect(runsRolloutImage({ image: 'acme/app:latest' }, { image: 'acme/app:latest' })).toBe(true);
  });

  it('splits a digest off an image reference', () => {
    expect(splitDigest(`r.example:5000/a/b:t@${d(4)}`)).toEqual({ name: 'r.example:5000/a/b:t', digest: d(4) });
    expect(splitDigest('a/b:t')).toEqual({ name: 'a/b:t' });
  });
});

describe('which push is newer', () => {
  it('orders by push time, then by arrival, then by id', () => {
    const a = { id: 'ro-a', pushed_at: '2030-01-01T00:00:01.000Z', created_at: '2030-01-01T00:00:05.000Z' };
    const b = { id: 'ro-b', pushed_at: '2030-01-01T00:00:02.000Z', created_at: '2030-01-01T00:00:03.000Z' };
    expect(isNewerPush(b, a)).toBe(true);
    expect(isNewerPush(a, b)).toBe(false);
    const sameSecond = { ...a, id: 'ro-c', created_at: '2030-01-01T00:00:05.001Z' };
    expect(isNewerPush(sameSecond, a)).toBe(true);
    expect(rolloutRank(a) < rolloutRank(sameSecond)).toBe(true);
  });
});
