/**
 * Which policies apply to a pushed image. A policy's `image_pattern` is a glob over
 * `repository:tag`: `*` matches any run of characters except `/`, `**` matches any run including
 * `/`, `?` matches one character. `iotistic/test-app:*` matches every tag of that repository.
 */

const cache = new Map<string, RegExp>();

export function globToRegExp(pattern: string): RegExp {
  let cached = cache.get(pattern);
  if (cached) return cached;
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === '*') {
      if (pattern[i + 1] === '*') {
        source += '.*';
        i++;
      } else {
        source += '[^/]*';
      }
    } else if (char === '?') {
      source += '[^/]';
    } else {
      source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  cached = new RegExp(`^${source}$`);
  cache.set(pattern, cached);
  return cached;
}

/** A pattern without a tag part (`iotistic/app`) matches every tag of that repository. */
export function imagePatternMatches(pattern: string, repository: string, tag: string): boolean {
  const lastSlash = pattern.lastIndexOf('/');
  const hasTag = pattern.indexOf(':', lastSlash + 1) !== -1;
  const fullPattern = hasTag ? pattern : `${pattern}:*`;
  return globToRegExp(fullPattern).test(`${repository}:${tag}`);
}

export function validateImagePattern(pattern: string): string | undefined {
  if (pattern.trim() !== pattern || pattern === '') return 'must be a non-empty glob without surrounding spaces';
  if (/\s/.test(pattern)) return 'must not contain white space';
  if (pattern.length > 256) return 'must be at most 256 characters';
  return undefined;
}
