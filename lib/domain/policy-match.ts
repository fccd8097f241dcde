/**
 * Which policies apply to a pushed image. A policy's `image_pattern` is a glob over
 * `repository:tag`: `*` matches any run of characters except `/`, `**` matches any run including
 * `/`, `?` matches one character. `iotistic/test-app:*` matches every tag of that repository.
 */

/** One step of a pattern: a character to match as it is, `?`, `*` or `**`. */
type Step = { literal: string } | 'one' | 'run' | 'any-run';

interface Compiled {
  steps: Step[];
  /** Characters the steps from each one on need at least (literals and `?`). */
  needs: Int32Array;
}

const compiled = new Map<string, Compiled>();

function compile(pattern: string): Compiled {
  const cached = compiled.get(pattern);
  if (cached) return cached;
  const steps: Step[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    let step: Step = char === '?' ? 'one' : { literal: char };
    if (char === '*') {
      step = pattern[i + 1] === '*' ? 'any-run' : 'run';
      if (step === 'any-run') i++;
      // Stars in a row match what the widest of them matches: one step.
      const previous = steps.at(-1);
      if (previous === 'run' || previous === 'any-run') {
        if (step === 'any-run') steps[steps.length - 1] = 'any-run';
        continue;
      }
    }
    steps.push(step);
  }
  const needs = new Int32Array(steps.length + 1);
  for (let i = steps.length - 1; i >= 0; i--) needs[i] = needs[i + 1]! + (steps[i] === 'run' || steps[i] === 'any-run' ? 0 : 1);
  const result = { steps, needs };
  compiled.set(pattern, result);
  return result;
}

/**
 * Whether the whole of `subject` matches the glob `pattern`. It reads the subject once, keeping
 * the set of places in the pattern a match could have reached so far, so it takes at most
 * pattern × subject steps however many stars the pattern has. A regular expression built from the
 * glob would backtrack instead, exponentially in the stars on a near miss: `*a*a*a…b` (a valid
 * pattern of 200 characters) against a repository name would hold the webhook for ever.
 */
export function globMatches(pattern: string, subject: string): boolean {
  const { steps, needs } = compile(pattern);
  const isRun = (i: number) => steps[i] === 'run' || steps[i] === 'any-run';
  // `places` holds the places reached, `stamp` marks which of them are in it for this character.
  let places: number[] = [];
  let nextPlaces: number[] = [];
  const stamp = new Int32Array(steps.length + 1).fill(-1);
  const reach = (into: number[], i: number, round: number) => {
    if (stamp[i] === round) return;
    stamp[i] = round;
    into.push(i);
    // A star may match nothing: reaching it reaches the step after it too (never a star: they are merged).
    if (isRun(i)) reach(into, i + 1, round);
  };
  reach(places, 0, 0);
  for (let c = 0; c < subject.length; c++) {
    const char = subject[c]!;
    const left = subject.length - c;
    nextPlaces.length = 0;
    for (const i of places) {
      if (i === steps.length || needs[i]! > left) continue;
      const step = steps[i]!;
      if (step === 'any-run' || (step === 'run' && char !== '/')) reach(nextPlaces, i, c + 1);
      else if ((step === 'one' && char !== '/') || (typeof step === 'object' && step.literal === char)) reach(nextPlaces, i + 1, c + 1);
    }
    if (nextPlaces.length === 0) return false;
    [places, nextPlaces] = [nextPlaces, places];
  }
  return places.includes(steps.length);
}

/** A pattern without a tag part (`iotistic/app`) matches every tag of that repository. */
export function imagePatternMatches(pattern: string, repository: string, tag: string): boolean {
  const lastSlash = pattern.lastIndexOf('/');
  const hasTag = pattern.indexOf(':', lastSlash + 1) !== -1;
  const fullPattern = hasTag ? pattern : `${pattern}:*`;
  return globMatches(fullPattern, `${repository}:${tag}`);
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

/** Winner first: priority, then specificity, then age, then id. */
const byRank = (a: PolicyCandidate, b: PolicyCandidate) =>
  (b.priority ?? 0) - (a.priority ?? 0) ||
  patternSpecificity(b.image_pattern) - patternSpecificity(a.image_pattern) ||
  a.created_at.localeCompare(b.created_at) ||
  a.id.localeCompare(b.id);

/** The enabled policies whose pattern matches the push: the candidates `choosePolicy` ranks. */
export function matchingPolicies<P extends PolicyCandidate>(policies: readonly P[], repository: string, tag: string): P[] {
  return policies.filter((p) => p.enabled && imagePatternMatches(p.image_pattern, repository, tag));
}

/**
 * The one policy a push rolls out with, when several match: the highest `priority`; on a tie the
 * more specific pattern; then the older policy (then the smaller id, so the choice never depends
 * on listing order). A push gives each device at most one rollout, so the others are passed over.
 *
 * `refusals` holds, by policy id, why a matching policy's tag policy turns this tag away
 * (lib/domain/tag-policy.ts). Such a policy is `declined`: it is out of the ranking, not merely
 * outranked, so whatever its priority it never wins over a policy that takes the tag, and it is
 * never reported as passed over by the winner.
 */
export function choosePolicy<P extends PolicyCandidate>(
  policies: readonly P[],
  repository: string,
  tag: string,
  refusals: ReadonlyMap<string, string> = new Map(),
): { winner?: P; passedOver: P[]; declined: { policy: P; reason: string }[] } {
  const matching = matchingPolicies(policies, repository, tag).sort(byRank);
  const declined = matching.flatMap((policy) => {
    const reason = refusals.get(policy.id);
    return reason === undefined ? [] : [{ policy, reason }];
  });
  const ranked = matching.filter((p) => !refusals.has(p.id));
  const [winner, ...passedOver] = ranked;
  return winner ? { winner, passedOver, declined } : { passedOver: [], declined };
}
