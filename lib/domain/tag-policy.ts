/**
 * Tag policies: which tags of a matching repository a policy rolls out. `glob` takes every tag
 * its `image_pattern` matches, as policies always have. The others read the tag as a semantic
 * version and only ever move forward from what the policy runs: `semver` within `semver_range`,
 * `major` to any greater version, `minor` to a greater one of the same major, `patch` to a greater
 * one of the same major and minor (Keel's meanings). A prerelease (`1.3.0-rc.1`) rolls out only
 * with `include_prereleases`.
 *
 * A version tag is `MAJOR.MINOR.PATCH`, with an optional prerelease and a leading `v` allowed
 * (`v1.2.3`, `1.3.0-rc.1`). Partial versions (`1`, `1.2`) are not versions here: registries push
 * them as moving aliases of the newest full version of their line, so reading `1.2` as `1.2.0`
 * would either turn it away as a downgrade of the `1.2.3` it points at, or, pushed first, put
 * devices on a tag whose content moves under them. `latest`, `main` and other names are never
 * versions: a non-glob policy passes them over.
 */
import { Range, SemVer, gt, minVersion, parse, satisfies, validRange } from 'semver';

export const tagPolicies = ['glob', 'semver', 'major', 'minor', 'patch'] as const;
export type TagPolicy = (typeof tagPolicies)[number];

export const maxSemverRangeLength = 256;

/** The part of a policy that decides which tags it takes. */
export interface TagRule {
  tag_policy: TagPolicy;
  /** With `semver` only: the versions the policy takes (`^1.2`, `~1.4.0`, `>=2 <3`). */
  semver_range: string | null;
  include_prereleases: boolean;
}

/** What a policy runs for a repository, as far as its tag policy is concerned (see lib/rollouts/tag-policies.ts). */
export interface RunningVersion {
  tag: string;
  rollout_id: string;
  /** The policy, as the reason names it. */
  policy: string;
}

/** The version a tag names, or undefined when it names none (see the module's comment). */
export function versionOfTag(tag: string): SemVer | undefined {
  // `parse` trims and forgives a leading `=`; a tag with either is no version tag.
  if (!/^v?\d/.test(tag) || tag.trim() !== tag) return undefined;
  return parse(tag) ?? undefined;
}

/** Why `range` cannot be a policy's `semver_range`, or undefined when it can (worded to follow the field's name). */
export function semverRangeProblem(range: string): string | undefined {
  const example = 'such as ^1.2, ~1.4.0 or >=2 <3';
  if (range.trim() === '') return `must be a semver range ${example}`;
  // The semver package reads an empty alternative (`^1.2 ||`) as "any version": surely a slip.
  if (range.split('||').some((part) => part.trim() === '')) return 'has an empty alternative around || (which would take any version)';
  if (validRange(range) === null) return `is not a semver range: ${JSON.stringify(range)} (write one ${example})`;
  if (minVersion(new Range(range)) === null) return `is satisfied by no version: ${JSON.stringify(range)}`;
  return undefined;
}

/**
 * Why the rule turns the tag away on its own, before what the policy runs is known: not a
 * version, a prerelease not asked for, outside the range. Undefined when it may roll out so far.
 */
export function tagRefusal(rule: TagRule, tag: string): string | undefined {
  if (rule.tag_policy === 'glob') return undefined;
  const version = versionOfTag(tag);
  if (!version) return `${tag} is not a version (MAJOR.MINOR.PATCH, a leading v allowed); tag_policy ${rule.tag_policy} takes only versions`;
  if (version.prerelease.length > 0 && !rule.include_prereleases) return `${tag} is a prerelease and include_prereleases is false`;
  if (rule.tag_policy === 'semver' && !satisfies(version, rule.semver_range ?? '', { includePrerelease: rule.include_prereleases })) {
    return `${tag} is outside semver_range ${rule.semver_range}`;
  }
  return undefined;
}

/** The versions a level allows from `from`, in words: `1.x.x`, `1.4.x`. */
const levelSpan = (level: 'minor' | 'patch', from: SemVer) => (level === 'minor' ? `${from.major}.x.x` : `${from.major}.${from.minor}.x`);

/**
 * Why the rule will not move the policy's devices from what they run to the tag, or undefined
 * when it will. Only forward: a version not greater than the running one is turned away, except
 * the running tag itself pushed again (a rebuild: re-pushes keep following push order, see
 * push-order.ts). `minor` and `patch` stay within that level of the running version. With nothing
 * running (the policy's first rollout of the repository, or only tags that are not versions),
 * there is nothing to compare with and the tag may roll out.
 */
export function moveRefusal(rule: TagRule, tag: string, running: RunningVersion | undefined): string | undefined {
  if (rule.tag_policy === 'glob' || !running) return undefined;
  const version = versionOfTag(tag);
  const from = versionOfTag(running.tag);
  if (!version || !from) return undefined;
  if (tag === running.tag) return undefined;
  const runs = `${running.tag}, which policy ${running.policy} runs (rollout ${running.rollout_id})`;
  if (!gt(version, from)) return `${tag} is not newer than ${runs}; tag_policy ${rule.tag_policy}`;
  const level = rule.tag_policy;
  if ((level === 'minor' && version.major !== from.major) || (level === 'patch' && (version.major !== from.major || version.minor !== from.minor))) {
    return `${tag} is outside ${level} of ${runs}: ${level} moves only within ${levelSpan(level, from)}`;
  }
  return undefined;
}

/** Both checks: why the tag does not roll out under the rule, or undefined when it does. */
export function tagPolicyRefusal(rule: TagRule, tag: string, running: RunningVersion | undefined): string | undefined {
  return tagRefusal(rule, tag) ?? moveRefusal(rule, tag, running);
}
