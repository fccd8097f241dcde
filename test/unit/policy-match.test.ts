import { describe, expect, it } from 'vitest';
import { imagePatternMatches, validateImagePattern } from '../../lib/domain/policy-match';

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
