import fc from 'fast-check';
import { compare, satisfies } from 'semver';
import { describe, expect, it } from 'vitest';
import { moveRefusal, semverRangeProblem, tagPolicies, tagPolicyRefusal, tagRefusal, versionOfTag, type RunningVersion, type TagPolicy, type TagRule } from '../../lib/domain/tag-policy';

const rule = (tag_policy: TagPolicy, extra: Partial<TagRule> = {}): TagRule => ({ tag_policy, semver_range: null, include_prereleases: false, ...extra });
const running = (tag: string): RunningVersion => ({ tag, rollout_id: 'ro-1', policy: 'pol_p' });

describe('versionOfTag', () => {
  it('reads MAJOR.MINOR.PATCH, with a prerelease and a leading v', () => {
    expect(versionOfTag('1.2.3')?.version).toBe('1.2.3');
    expect(versionOfTag('v1.2.3')?.version).toBe('1.2.3');
    expect(versionOfTag('1.3.0-rc.1')?.version).toBe('1.3.0-rc.1');
    expect(versionOfTag('v2.0.0-beta.2')?.prerelease).toEqual(['beta', 2]);
  });

  it('takes no names, partial versions or near misses as versions', () => {
    for (const tag of ['latest', 'main', 'stable', '1', '1.2', 'v1.2', '1.2.3.4', '01.2.3', 'V1.2.3', '=1.2.3', ' 1.2.3', '1.2.3 ', 'release-1.2.3', '1.2.3_build', 'sha-1.2.3', '']) {
      expect(versionOfTag(tag), tag).toBeUndefined();
    }
  });
});

describe('semverRangeProblem', () => {
  it('takes the ranges people write', () => {
    for (const range of ['^1.2', '~1.4.0', '>=2 <3', '1.x', '*', '1.2.3 - 1.4.0', '^1.2 || ^2.0', '>=1.0.0-0']) expect(semverRangeProblem(range), range).toBeUndefined();
  });

  it('names what is wrong with the rest', () => {
    expect(semverRangeProblem('latest')).toBe('is not a semver range: "latest" (write one such as ^1.2, ~1.4.0 or >=2 <3)');
    expect(semverRangeProblem('^1.2 garbage')).toMatch(/^is not a semver range: "\^1\.2 garbage"/);
    expect(semverRangeProblem('')).toMatch(/must be a semver range/);
    expect(semverRangeProblem('   ')).toMatch(/must be a semver range/);
    // The semver package reads these as "any version".
    expect(semverRangeProblem('^1.2 ||')).toMatch(/empty alternative/);
    expect(semverRangeProblem('|| ^2')).toMatch(/empty alternative/);
    expect(semverRangeProblem('>3 <2')).toBe('is satisfied by no version: ">3 <2"');
  });
});

describe('tagRefusal: what a rule says of a tag on its own', () => {
  it('lets glob take every tag', () => {
    for (const tag of ['latest', '1.2.3', '1.3.0-rc.1', 'v0']) expect(tagRefusal(rule('glob'), tag)).toBeUndefined();
  });

  it('passes over tags that are no versions under every other tag policy', () => {
    for (const policy of ['semver', 'major', 'minor', 'patch'] as const) {
      expect(tagRefusal(rule(policy, { semver_range: policy === 'semver' ? '*' : null }), 'latest')).toBe(`latest is not a version (MAJOR.MINOR.PATCH, a leading v allowed); tag_policy ${policy} takes only versions`);
      expect(tagRefusal(rule(policy, { semver_range: policy === 'semver' ? '*' : null }), '1.2')).toMatch(/^1\.2 is not a version/);
    }
  });

  it('takes a prerelease only with include_prereleases', () => {
    expect(tagRefusal(rule('minor'), '1.3.0-rc.1')).toBe('1.3.0-rc.1 is a prerelease and include_prereleases is false');
    expect(tagRefusal(rule('minor', { include_prereleases: true }), '1.3.0-rc.1')).toBeUndefined();
    // The semver package would let a range that names a prerelease take it; the setting still decides.
    expect(tagRefusal(rule('semver', { semver_range: '^1.3.0-rc.0' }), '1.3.0-rc.1')).toMatch(/is a prerelease/);
  });

  it('keeps semver within its range, a prerelease of the range included when asked for', () => {
    const caret = rule('semver', { semver_range: '^1.2' });
    expect(tagRefusal(caret, '1.2.0')).toBeUndefined();
    expect(tagRefusal(caret, 'v1.9.4')).toBeUndefined();
    expect(tagRefusal(caret, '1.1.9')).toBe('1.1.9 is outside semver_range ^1.2');
    expect(tagRefusal(caret, '2.0.0')).toBe('2.0.0 is outside semver_range ^1.2');
    const withPrereleases = rule('semver', { semver_range: '^1.2', include_prereleases: true });
    expect(tagRefusal(withPrereleases, '1.4.0-rc.1')).toBeUndefined();
    // 2.0.0-rc.1 comes after every 1.x and before 2.0.0: outside ^1.2.
    expect(tagRefusal(withPrereleases, '2.0.0-rc.1')).toBe('2.0.0-rc.1 is outside semver_range ^1.2');
    expect(tagRefusal(rule('semver', { semver_range: '~1.4.0' }), '1.5.0')).toBe('1.5.0 is outside semver_range ~1.4.0');
    expect(tagRefusal(rule('semver', { semver_range: '>=2 <3' }), '2.7.1')).toBeUndefined();
    expect(tagRefusal(rule('semver', { semver_range: '>=2 <3' }), '3.0.0')).toMatch(/outside/);
  });
});

describe('moveRefusal: only forward from what the policy runs', () => {
  it('moves freely when the policy runs nothing yet', () => {
    for (const policy of tagPolicies) expect(moveRefusal(rule(policy), '9.0.0', undefined)).toBeUndefined();
  });

  it('never moves to a version that is not greater', () => {
    expect(moveRefusal(rule('minor'), '1.2.0', running('1.4.1'))).toBe('1.2.0 is not newer than 1.4.1, which policy pol_p runs (rollout ro-1); tag_policy minor');
    expect(moveRefusal(rule('major'), '1.4.1-rc.1', running('1.4.1'))).toMatch(/is not newer than 1\.4\.1/);
    // The same version spelt differently is no re-push of the running tag.
    expect(moveRefusal(rule('patch'), 'v1.4.1', running('1.4.1'))).toMatch(/^v1\.4\.1 is not newer than 1\.4\.1/);
  });

  it('lets the running tag be pushed again (a rebuild), as any re-push', () => {
    for (const policy of tagPolicies) expect(moveRefusal(rule(policy), '1.4.1', running('1.4.1'))).toBeUndefined();
  });

  it('keeps patch within major.minor, minor within major, and lets major go anywhere higher', () => {
    expect(moveRefusal(rule('patch'), '1.2.4', running('1.2.3'))).toBeUndefined();
    expect(moveRefusal(rule('patch'), '1.3.0', running('1.2.3'))).toBe('1.3.0 is outside patch of 1.2.3, which policy pol_p runs (rollout ro-1): patch moves only within 1.2.x');
    expect(moveRefusal(rule('minor'), '1.3.0', running('1.2.3'))).toBeUndefined();
    expect(moveRefusal(rule('minor'), '2.0.0', running('1.4.1'))).toBe('2.0.0 is outside minor of 1.4.1, which policy pol_p runs (rollout ro-1): minor moves only within 1.x.x');
    expect(moveRefusal(rule('major'), '2.0.0', running('1.4.1'))).toBeUndefined();
    expect(moveRefusal(rule('major'), 'v10.0.0', running('v9.9.9'))).toBeUndefined();
    // A prerelease of the next patch is greater and within patch.
    expect(moveRefusal(rule('patch', { include_prereleases: true }), '1.2.4-rc.1', running('1.2.3'))).toBeUndefined();
    // From a prerelease to its release.
    expect(moveRefusal(rule('patch', { include_prereleases: true }), '1.3.0', running('1.3.0-rc.2'))).toBeUndefined();
  });

  it('has nothing to compare with when what runs is no version', () => {
    expect(moveRefusal(rule('patch'), '0.1.0', running('latest'))).toBeUndefined();
  });
});

/** A version tag, sometimes with a prerelease, sometimes with a leading v. */
const versionTag = fc
  .tuple(fc.nat(4), fc.nat(4), fc.nat(4), fc.option(fc.constantFrom('rc.1', 'rc.2', 'beta', 'alpha.3'), { nil: undefined }), fc.boolean())
  .map(([major, minor, patch, pre, v]) => `${v ? 'v' : ''}${major}.${minor}.${patch}${pre ? `-${pre}` : ''}`);
const anyRule = fc.record({
  tag_policy: fc.constantFrom(...tagPolicies),
  semver_range: fc.constantFrom('^1.2', '~1.4.0', '>=2 <3', '*', '0.x || ^3'),
  include_prereleases: fc.boolean(),
}).map((r): TagRule => ({ ...r, semver_range: r.tag_policy === 'semver' ? r.semver_range : null }));
const versionRule = anyRule.filter((r) => r.tag_policy !== 'glob');
const order = (a: string, b: string) => compare(versionOfTag(a)!, versionOfTag(b)!);

describe('tag policies, over many versions', () => {
  it('never take a version lower than, or equal to but spelt unlike, what runs', () => {
    fc.assert(
      fc.property(versionRule, versionTag, versionTag, (r, tag, from) => {
        if (tagPolicyRefusal(r, tag, running(from)) === undefined) expect(order(tag, from) > 0 || tag === from).toBe(true);
      }),
    );
  });

  it('take a greater version exactly when it is within the level (and range, and prerelease setting)', () => {
    fc.assert(
      fc.property(versionRule, versionTag, versionTag, (r, tag, from) => {
        const to = versionOfTag(tag)!;
        const base = versionOfTag(from)!;
        fc.pre(order(tag, from) > 0);
        const withinLevel = r.tag_policy === 'patch' ? to.major === base.major && to.minor === base.minor : r.tag_policy === 'minor' ? to.major === base.major : true;
        const allowed = (to.prerelease.length === 0 || r.include_prereleases) && (r.tag_policy !== 'semver' || satisfies(to, r.semver_range!, { includePrerelease: r.include_prereleases }));
        expect(tagPolicyRefusal(r, tag, running(from)) === undefined).toBe(withinLevel && allowed);
      }),
    );
  });

  it('nest: what patch takes minor takes, and what minor takes major takes', () => {
    fc.assert(
      fc.property(fc.boolean(), versionTag, fc.option(versionTag, { nil: undefined }), (include_prereleases, tag, from) => {
        const takes = (policy: TagPolicy) => tagPolicyRefusal(rule(policy, { include_prereleases }), tag, from === undefined ? undefined : running(from)) === undefined;
        if (takes('patch')) expect(takes('minor')).toBe(true);
        if (takes('minor')) expect(takes('major')).toBe(true);
      }),
    );
  });

  it('never take a prerelease without include_prereleases, and never a name', () => {
    fc.assert(
      fc.property(versionRule, versionTag, fc.option(versionTag, { nil: undefined }), fc.constantFrom('latest', 'main', 'edge', '1', '2.1'), (r, tag, from, name) => {
        const at = from === undefined ? undefined : running(from);
        if (!r.include_prereleases && versionOfTag(tag)!.prerelease.length > 0) expect(tagPolicyRefusal(r, tag, at)).toMatch(/is a prerelease/);
        expect(tagPolicyRefusal(r, name, at)).toMatch(/is not a version/);
      }),
    );
  });

  it('decide a v-prefixed tag as the bare version (against a bare running tag, which it is not a re-push of)', () => {
    fc.assert(
      fc.property(anyRule, versionTag, versionTag, (r, tag, from) => {
        const bare = tag.replace(/^v/, '');
        const base = from.replace(/^v/, '');
        fc.pre(bare !== base);
        expect(tagPolicyRefusal(r, `v${bare}`, running(base)) === undefined).toBe(tagPolicyRefusal(r, bare, running(base)) === undefined);
      }),
    );
  });

  it('glob takes every tag, whatever runs', () => {
    fc.assert(
      fc.property(fc.string(), fc.option(versionTag, { nil: undefined }), (tag, from) => {
        expect(tagPolicyRefusal(rule('glob'), tag, from === undefined ? undefined : running(from))).toBeUndefined();
      }),
    );
  });
});
