/**
 * Property tests of policy image patterns (issue 9): a pattern made from a reference by putting
 * `*` in place of one segment matches it; a pattern without wildcards matches only itself, regex
 * characters included; and a long adversarial pattern or subject is answered, not backtracked
 * for ever.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { globMatches, imagePatternMatches } from '../../lib/domain/policy-match';
import { anyString } from './arbitraries';
import { referenceParts, repositoryOf, tag as tagArbitrary } from './references';
import { fuzzParameters, fuzzRuns, timeoutFor } from './runs';

const runs = fuzzRuns(300);

/** A pushed image: a repository (host included, when it has one) and a tag. */
const pushed = fc.tuple(referenceParts, tagArbitrary).map(([parts, tag]) => ({ repository: repositoryOf(parts), segments: repositoryOf(parts).split('/'), tag }));

const noWildcards = (text: string) => text.replace(/[*?]/g, '');

describe('image patterns', { timeout: timeoutFor(runs * 3, 10) }, () => {
  it('a repository segment or the tag replaced by * matches; by ** across segments too', () => {
    fc.assert(
      fc.property(pushed, fc.nat(), fc.nat(), ({ repository, segments, tag }, at, length) => {
        const i = at % (segments.length + 1);
        if (i === segments.length) {
          expect(imagePatternMatches(`${repository}:*`, repository, tag)).toBe(true);
        } else {
          const star = segments.map((s, j) => (j === i ? '*' : s)).join('/');
          expect(imagePatternMatches(`${star}:${tag}`, repository, tag), star).toBe(true);
          expect(imagePatternMatches(star, repository, tag), `${star} without a tag`).toBe(true);
          const end = i + 1 + (length % (segments.length - i));
          const globstar = [...segments.slice(0, i), '**', ...segments.slice(end)].join('/');
          expect(imagePatternMatches(`${globstar}:*`, repository, tag), globstar).toBe(true);
        }
      }),
      fuzzParameters(runs),
    );
  });

  it('* never matches across a /', () => {
    fc.assert(
      fc.property(pushed.filter(({ segments }) => segments.length >= 2), fc.nat(), ({ repository, segments, tag }, at) => {
        // Two segments joined into one * cannot match: the * would have to take the / between them.
        const i = at % (segments.length - 1);
        const pattern = [...segments.slice(0, i), '*', ...segments.slice(i + 2)].join('/');
        expect(imagePatternMatches(`${pattern}:${tag}`, repository, tag), pattern).toBe(false);
      }),
      fuzzParameters(runs),
    );
  });

  it('a pattern without wildcards matches only itself, whatever characters it has', () => {
    fc.assert(
      fc.property(anyString.map(noWildcards), fc.oneof(anyString, fc.constant(undefined)), (pattern, other) => {
        expect(globMatches(pattern, pattern)).toBe(true);
        if (other !== undefined) expect(globMatches(pattern, other)).toBe(other === pattern);
      }),
      fuzzParameters(runs),
    );
  });

  it('a pushed image matches the pattern of its own repository and tag, and no other image does', () => {
    fc.assert(
      fc.property(pushed, pushed, (image, other) => {
        expect(imagePatternMatches(`${image.repository}:${image.tag}`, image.repository, image.tag)).toBe(true);
        expect(imagePatternMatches(image.repository, image.repository, other.tag)).toBe(true);
        const same = other.repository === image.repository && other.tag === image.tag;
        expect(imagePatternMatches(`${image.repository}:${image.tag}`, other.repository, other.tag)).toBe(same);
      }),
      fuzzParameters(runs),
    );
  });

  it('answers adversarial patterns and subjects of 10,000 characters', () => {
    // Each shape is a classic for backtracking matchers: many stars that can each take any run.
    // A stored pattern has at most 256 characters and a pushed image about 400; here one side has
    // 10,000 and the other at least what the API lets through.
    const subject = 'a'.repeat(10_000);
    const cases: [string, string, string][] = [
      ['*a'.repeat(50) + 'b', subject, ''],
      ['**a'.repeat(50) + 'b', subject, 'x'],
      ['*'.repeat(5_000) + 'b', subject, 'a'],
      ['?*'.repeat(128) + 'b', subject, 'a'],
      ['a*'.repeat(5_000) + 'b', 'a'.repeat(400), 'a'],
      ['*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*:x', subject, 'y'],
    ];
    for (const [pattern, repository, tag] of cases) {
      // The answer itself: none of these has a b, a :x or a tag to match.
      expect(imagePatternMatches(pattern, repository, tag), pattern.slice(0, 40)).toBe(false);
    }
    expect(imagePatternMatches('*a'.repeat(50) + '*', subject, 'a')).toBe(true);
    expect(imagePatternMatches('x'.repeat(10_000), 'x'.repeat(10_000), 'x')).toBe(true);
    expect(imagePatternMatches('**:' + 'x?'.repeat(5_000), subject, 'xa'.repeat(5_000))).toBe(true);
  });
});
