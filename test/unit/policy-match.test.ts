import { describe, expect, it } from 'vitest';
import { choosePolicy, patternSpecificity, imagePatternMatches, validateImagePattern } from '../../lib/domain/policy-match';

describe('imagePatternMatches', () => {
  it('matches every tag of a repository with repo:*', () => {
    expect(imagePatternMatches('iotistic/test-app:*', 'iotistic/test-app', 'v1.0.0')).toBe(true);
    expect(imagePatternMatches('iotistic/test-app:*', 'iotistic/other-app', 'v1.0.0')).toBe(false);
  });

  it('treats a pattern without a tag as any tag', () => {
    expect(imagePatternMatches('iotistic/test-app', 'iotistic/test-app', 'latest')).toBe(true);
  });

  it('does not let a single star cross a slash, but a double star does', () => {
    expect(imagePatternMatches('iotistic/*:*', 'iotistic/a', 'v1')).toBe(true);
    expect(imagePatternMatches('iotistic/*:*', 'iotistic/team/a', 'v1')).toBe(false);
    expect(imagePatternMatches('iotistic/**:*', 'iotistic/team/a', 'v1')).toBe(true);
  });

  it('matches tag globs and single characters', () => {
    expect(imagePatternMatches('app:v1.*', 'app', 'v1.2.3')).toBe(true);
    expect(imagePatternMatches('app:v1.*', 'app', 'v2.0.0')).toBe(false);
    expect(imagePatternMatches('app:v?', 'app', 'v7')).toBe(true);
  });

  it('takes regex characters literally', () => {
    expect(imagePatternMatches('app:v1.0', 'app', 'v1x0')).toBe(false);
    expect(imagePatternMatches('a+b:*', 'a+b', 't')).toBe(true);
  });

  it('answers a near miss of a pattern full of stars at once (found by test/fuzz/policy-match.test.ts)', () => {
    // As a regular expression this valid 201-character pattern backtracked for ever on the push.
    const pattern = '*a'.repeat(100) + 'b';
    expect(validateImagePattern(pattern)).toBeUndefined();
    expect(imagePatternMatches(pattern, 'a'.repeat(200), 'a')).toBe(false);
    expect(imagePatternMatches('*a'.repeat(100), 'a'.repeat(200), 'a')).toBe(true);
    expect(imagePatternMatches('a/**/*:v**', 'a/b/c/d', 'v1')).toBe(true);
    expect(imagePatternMatches('a/***:*', 'a/b/c', 'v1')).toBe(true);
  });

  it('handles registry hosts with ports', () => {
    expect(imagePatternMatches('registry.local:5000/team/*:*', 'registry.local:5000/team/app', 'v2')).toBe(true);
    expect(imagePatternMatches('registry.local:5000/team/app', 'registry.local:5000/team/app', 'v2')).toBe(true);
  });
});

describe('validateImagePattern', () => {
  it('refuses empty patterns and white space', () => {
    expect(validateImagePattern('')).toBeDefined();
    expect(validateImagePattern('a b:*')).toBeDefined();
    expect(validateImagePattern('iotistic/app:*')).toBeUndefined();
  });
});

describe('choosing one policy for a push', () => {
  const policy = (id: string, image_pattern: string, extra: { priority?: number; created_at?: string; enabled?: boolean } = {}) => ({
    id,
    image_pattern,
    enabled: extra.enabled ?? true,
    priority: extra.priority ?? 0,
    created_at: extra.created_at ?? '2030-01-01T00:00:00.000Z',
  });

  it('takes the highest priority, then the more specific pattern, then the older policy', () => {
    const broad = policy('broad', 'acme/**', { created_at: '2030-01-01T00:00:00.000Z' });
    const tagged = policy('tagged', 'acme/app:v*', { created_at: '2030-01-02T00:00:00.000Z' });
    const twin = policy('twin', 'acme/app:v?', { created_at: '2030-01-03T00:00:00.000Z' });
    const urgent = policy('urgent', 'acme/*', { priority: 5, created_at: '2030-01-04T00:00:00.000Z' });
    expect(choosePolicy([broad, tagged, twin, urgent], 'acme/app', 'v2')).toEqual({ winner: urgent, passedOver: [tagged, twin, broad], declined: [] });
    expect(choosePolicy([broad, twin, tagged], 'acme/app', 'v2').winner).toBe(tagged);
    expect(choosePolicy([broad, tagged], 'acme/other', 'v2')).toEqual({ winner: broad, passedOver: [], declined: [] });
  });

  it('passes over disabled and non-matching policies, and may find none', () => {
    const off = policy('off', 'acme/app:*', { enabled: false, priority: 9 });
    expect(choosePolicy([off, policy('x', 'other/*')], 'acme/app', 'v1')).toEqual({ passedOver: [], declined: [] });
  });

  it('leaves a policy whose tag policy turns the tag away out of the ranking, whatever its priority', () => {
    const strict = policy('strict', 'acme/app:*', { priority: 10 });
    const specific = policy('specific', 'acme/app:2.*');
    const broad = policy('broad', 'acme/**', { created_at: '2029-01-01T00:00:00.000Z' });
    const refusals = new Map([['strict', '2.0.0 is outside semver_range ^1.2']]);
    // Without the refusal the high-priority policy would win.
    expect(choosePolicy([strict, specific, broad], 'acme/app', '2.0.0').winner).toBe(strict);
    expect(choosePolicy([strict, specific, broad], 'acme/app', '2.0.0', refusals)).toEqual({
      winner: specific,
      passedOver: [broad],
      declined: [{ policy: strict, reason: '2.0.0 is outside semver_range ^1.2' }],
    });
  });

  it('has no winner when every matching policy declines, and says which declined in rank order', () => {
    const low = policy('low', 'acme/app:*', { priority: -1 });
    const high = policy('high', 'acme/app:*', { priority: 3 });
    const off = policy('off', 'acme/app:*', { enabled: false });
    // A refusal of a policy that does not match (or is disabled) is no declined policy.
    const refusals = new Map([
      ['low', 'latest is not a version'],
      ['high', 'latest is not a version'],
      ['off', 'latest is not a version'],
      ['elsewhere', 'latest is not a version'],
    ]);
    expect(choosePolicy([low, off, high, policy('elsewhere', 'other/*')], 'acme/app', 'latest', refusals)).toEqual({
      passedOver: [],
      declined: [
        { policy: high, reason: 'latest is not a version' },
        { policy: low, reason: 'latest is not a version' },
      ],
    });
  });

  it('rates patterns by the characters they fix', () => {
    expect(patternSpecificity('acme/app:v1.*')).toBeGreaterThan(patternSpecificity('acme/app:*'));
    expect(patternSpecificity('acme/app:*')).toBeGreaterThan(patternSpecificity('acme/**'));
  });
});
