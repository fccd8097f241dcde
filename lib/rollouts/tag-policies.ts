/**
 * The tag policies of the policies a push matches: for each non-glob one, why it turns the tag
 * away, if it does. The version rules are lib/domain/tag-policy.ts; what they compare with is
 * found here.
 *
 * "What the policy's devices run" is taken to be the newest push, among the policy's rollouts
 * of the repository with a version tag, whose rollout is under way (pending, in progress,
 * paused), completed, or cancelled or failed after it had started:
 * - devices end on the newest push's image (push-order.ts, DESIGN §6 invariant 8), so the
 *   newest such rollout is the image they run or are being moved to;
 * - a rolled-back rollout returned every device it touched to its previous image, and one that
 *   ended before it started moved none, so neither says what runs; but cancelling or failing
 *   reverts only the devices not yet updated (rollout-control.ts `revertedOnCancel`), so the
 *   updated ones still run that version and a lower push would move them back.
 * The policy's rollouts are listed by push under its repository (lib/store/rollouts.ts
 * `policyRolloutsOf`), so this is one short query and, nearly always, one rollout read per
 * non-glob policy the push matches. Reading the devices themselves (their targets or reports)
 * would read every device of the repository on every push.
 *
 * What it does not see: devices another policy moved (each policy moves forward from its own
 * rollouts), and a push that arrives while another push of the repository is being handled
 * (both compare with the same rollout; push order then decides, as for any two pushes).
 */
import { moveRefusal, tagRefusal, versionOfTag, type RunningVersion, type TagRule } from '../domain/tag-policy';
import { activeRolloutStatuses, type Policy, type Rollout } from '../domain/types';
import { withDefaults } from '../policies';
import { getRollout, policyRolloutsOf } from '../store/rollouts';

export function tagRuleOf(policy: Policy): TagRule {
  const { tag_policy, semver_range, include_prereleases } = withDefaults(policy);
  return { tag_policy, semver_range, include_prereleases };
}

/** Whether the rollout's version is what (some of) its devices run or are being moved to. */
function stillRuns(rollout: Rollout): boolean {
  if (activeRolloutStatuses.includes(rollout.status) || rollout.status === 'completed') return true;
  return rollout.status !== 'rolled_back' && rollout.started_at !== undefined;
}

/** What the policy runs for the repository (see the module's comment), or undefined when nothing. */
export async function runningVersion(repository: string, policy: Policy): Promise<RunningVersion | undefined> {
  for await (const entry of policyRolloutsOf(repository, policy.id)) {
    // A tag that is no version (the policy was a glob policy then) says nothing to compare with.
    if (!versionOfTag(entry.tag)) continue;
    const rollout = await getRollout(entry.rollout_id);
    if (rollout && stillRuns(rollout)) return { tag: rollout.tag, rollout_id: rollout.id, policy: policy.id };
  }
  return undefined;
}

/**
 * Why each of `policies` (those the push matches) turns the tag away, by policy id; policies that
 * take it are absent. What a policy runs is read only when the tag passes its rule otherwise.
 */
export async function tagPolicyRefusals(policies: readonly Policy[], repository: string, tag: string): Promise<Map<string, string>> {
  const refusals = new Map<string, string>();
  for (const policy of policies) {
    const rule = tagRuleOf(policy);
    if (rule.tag_policy === 'glob') continue;
    const refusal = tagRefusal(rule, tag) ?? moveRefusal(rule, tag, await runningVersion(repository, policy));
    if (refusal) refusals.set(policy.id, refusal);
  }
  return refusals;
}
