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

/**
 * How specific a pattern is: the characters it fixes (everything but wildcards). `acme/app:v1.*`
 * is more specific than `acme/app:*`, which is more specific than `acme/**`.
 */
export function patternSpecificity(pattern: string): number {
  return pattern.replace(/\*+|\?/g, '').length;
}

export interface PolicyCandidate {
  id: string;
  image_pattern: string;
  enabled: boolean;
  priority?: number;
  created_at: string;
}

/**
 * The one policy a push rolls out with, when several match: the highest `priority`; on a tie the
 * more specific pattern; then the older policy (then the smaller id, so the choice never depends
 * on listing order). A push gives each device at most one rollout, so the others are passed over.
 */
export function choosePolicy<P extends PolicyCandidate>(
  policies: readonly P[],
  repository: string,
  tag: string,
): { winner?: P; passedOver: P[] } {
  const ranked = policies
    .filter((p) => p.enabled && imagePatternMatches(p.image_pattern, repository, tag))
    .sort(
      (a, b) =>
        (b.priority ?? 0) - (a.priority ?? 0) ||
        patternSpecificity(b.image_pattern) - patternSpecificity(a.image_pattern) ||
        a.created_at.localeCompare(b.created_at) ||
        a.id.localeCompare(b.id),
    );
  const [winner, ...passedOver] = ranked;
  return winner ? { winner, passedOver } : { passedOver: [] };
}
