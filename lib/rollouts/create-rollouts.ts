/**
 * From a registry push to rollouts: one per enabled policy whose image pattern matches. Ids are
 * derived from the push and the policy, so a redelivered webhook finds the rollouts it created.
 */
import { createHash } from 'node:crypto';
import { imagePatternMatches } from '../domain/policy-match';
import type { Policy, PolicySettings, Rollout } from '../domain/types';
import { sendOrchestration } from '../queues/messages';
import type { ImagePushed } from '../registry';
import { getDelivery, recordDelivery } from '../store/deliveries';
import { appendEvent } from '../store/events';
import { allPolicies } from '../store/policies';
import { createRollout, getRollout } from '../store/rollouts';

export interface RolloutSummary {
  id: string;
  status: Rollout['status'];
  policy_id: string;
  image: string;
}

const summary = (r: Rollout): RolloutSummary => ({ id: r.id, status: r.status, policy_id: r.policy_id, image: r.image });

export function rolloutIdFor(push: ImagePushed, policyId: string): string {
  // A digest names the content; without one (Docker Hub) the push time tells two pushes of a tag apart.
  const identity = [push.registry, push.repository, push.tag, push.digest ?? push.pushed_at, policyId].join('|');
  return `ro-${createHash('sha256').update(identity).digest('hex').slice(0, 24)}`;
}

function settingsOf(policy: Policy): PolicySettings {
  const { id, name, enabled, created_at, updated_at, ...settings } = policy;
  return settings;
}

export function newRollout(push: ImagePushed, policy: Policy, now: Date): Rollout {
  const at = now.toISOString();
  return {
    id: rolloutIdFor(push, policy.id),
    policy_id: policy.id,
    registry: push.registry,
    repository: push.repository,
    tag: push.tag,
    ...(push.digest ? { digest: push.digest } : {}),
    image: `${push.repository}:${push.tag}`,
    pushed_at: push.pushed_at,
    delivery_id: push.delivery_id,
    status: 'pending',
    policy: settingsOf(policy),
    batches: [],
    current_batch: 0,
    planning: { done: false, assigned: 0 },
    total_devices: 0,
    shard_count: 0,
    version: 1,
    created_at: at,
    updated_at: at,
  };
}

/** Handles one push; answers with the rollouts it made, or made before when it is a redelivery. */
export async function rolloutsForPush(push: ImagePushed, now: Date): Promise<RolloutSummary[]> {
  const seen = await getDelivery(push.registry, push.delivery_id);
  if (seen) {
    const rollouts = await Promise.all(seen.rollout_ids.map((id) => getRollout(id)));
    return rollouts.flatMap((r) => (r ? [summary(r)] : []));
  }

  const policies = (await allPolicies()).filter(
    (p) => p.enabled && imagePatternMatches(p.image_pattern, push.repository, push.tag),
  );
  const created: Rollout[] = [];
  for (const policy of policies) {
    const { rollout, created: isNew } = await createRollout(newRollout(push, policy, now));
    if (isNew || !rollout.planning.done) {
      await appendEvent({
        type: 'image.webhook_received',
        rollout_id: rollout.id,
        timestamp: rollout.created_at,
        details: { registry: push.registry, repository: push.repository, tag: push.tag, digest: push.digest ?? null, delivery_id: push.delivery_id, pushed_at: push.pushed_at },
      });
      await appendEvent({
        type: 'image.rollout_created',
        rollout_id: rollout.id,
        timestamp: rollout.created_at,
        order: 1,
        details: { policy_id: policy.id, image: rollout.image, strategy: rollout.policy.update_strategy },
      });
      await sendOrchestration({ type: 'plan', rollout_id: rollout.id, seq: 0 });
    }
    created.push(rollout);
  }
  await recordDelivery({
    registry: push.registry,
    delivery_id: push.delivery_id,
    rollout_ids: created.map((r) => r.id),
    received_at: now.toISOString(),
  });
  return created.map(summary);
}
