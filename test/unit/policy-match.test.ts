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
    expect(choosePolicy([broad, tagged, twin, urgent], 'acme/app', 'v2')).toEqual({ winner: urgent, passedOver: [tagged, twin, broad] });
    expect(choosePolicy([broad, twin, tagged], 'acme/app', 'v2').winner).toBe(tagged);
    expect(choosePolicy([broad, tagged], 'acme/other', 'v2')).toEqual({ winner: broad, passedOver: [] });
  });

  it('passes over disabled and non-matching policies, and may find none', () => {
    const off = policy('off', 'acme/app:*', { enabled: false, priority: 9 });
    expect(choosePolicy([off, policy('x', 'other/*')], 'acme/app', 'v1')).toEqual({ passedOver: [] });
  });

  it('rates patterns by the characters they fix', () => {
    expect(patternSpecificity('acme/app:v1.*')).toBeGreaterThan(patternSpecificity('acme/app:*'));
    expect(patternSpecificity('acme/app:*')).toBeGreaterThan(patternSpecificity('acme/**'));
  });
});
