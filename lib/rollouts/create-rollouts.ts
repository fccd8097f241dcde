/**
 * From a registry push to its rollout. The delivery is claimed first, so copies of one webhook
 * racing each other agree on the push; then one policy is chosen (a push gives each device at
 * most one rollout; a policy whose tag policy turns the tag away is out of the choice) and the
 * rollout is created with an id derived from the push, so any copy, or a retry after a crash,
 * finds the same rollout instead of making another.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { choosePolicy, matchingPolicies } from '../domain/policy-match';
import { minutesLater } from '../domain/rollout-progress';
import { rolloutStatuses, type Policy, type PolicySettings, type Rollout } from '../domain/types';
import { logger } from '../logger';
import { policySettingsSchema, withDefaults } from '../policies';
import { sendOrchestration } from '../queues/messages';
import { normaliseRepository, type ImagePushed } from '../registry';
import { digestSources, type DigestSource } from '../registry/types';
import { claimDelivery, recordDeliveryOutcome } from '../store/deliveries';
import type { NewEvent } from '../store/events';
import { allPolicies } from '../store/policies';
import { createRollout, getRollout, listPolicyRollout } from '../store/rollouts';
import { tagPolicyRefusals } from './tag-policies';

export interface RolloutSummary {
  id: string;
  status: Rollout['status'];
  policy_id: string;
  image: string;
}

export interface PolicyRef {
  id: string;
  name: string | null;
  priority: number;
  image_pattern: string;
}

/** A policy that matched the push but whose tag policy turned the tag away, and why. */
export interface DeclinedPolicy extends PolicyRef {
  reason: string;
}

const policyRefSchema = z.object({ id: z.string(), name: z.string().nullable(), priority: z.number().int(), image_pattern: z.string() });
const declinedPolicySchema = policyRefSchema.extend({ reason: z.string() });

/** `202` of a webhook: the rollouts its pushes created or found, and what became of each push. */
export const webhookAcceptedSchema = z.object({
  rollouts: z.array(z.object({ id: z.string(), status: z.enum(rolloutStatuses), policy_id: z.string(), image: z.string() })),
  pushes: z.array(
    z.object({
      repository: z.string(),
      tag: z.string(),
      digest: z.string().nullable(),
      digest_source: z.enum(digestSources).optional(),
      digest_unresolved: z.string().optional(),
      rollout_id: z.string().nullable(),
      policy: policyRefSchema.nullable(),
      passed_over_policies: z.array(policyRefSchema),
      /** Enabled policies whose pattern matched but whose `tag_policy` turned the tag away, each with why. */
      declined_policies: z.array(declinedPolicySchema),
      message: z.string(),
    }),
  ),
}) satisfies z.ZodType<{ rollouts: RolloutSummary[]; pushes: PushOutcome[] }>;

/** What one push led to, as the webhook answers it and the delivery remembers it. */
export interface PushOutcome {
  /** The image as understood: normalised repository, tag, and digest when the registry sent one or its manifest API named one. */
  repository: string;
  tag: string;
  digest: string | null;
  /** With a digest: whether the webhook named it or the manifest API was asked. */
  digest_source?: DigestSource;
  /** Without one: why (the look-up's failure, or that none was made); the rollout targets the tag. */
  digest_unresolved?: string;
  rollout_id: string | null;
  policy: PolicyRef | null;
  /** Enabled policies that matched too but lost to `policy` (priority, then specificity, then age). */
  passed_over_policies: PolicyRef[];
  /** Enabled policies that matched but whose tag policy turned the tag away: out of the choice, with why. */
  declined_policies: DeclinedPolicy[];
  message: string;
}

/**
 * Where the digest came from, or why there is none. A push claimed before digests were looked up
 * carries neither field: a digest it has came with the webhook.
 */
function digestNote(push: ImagePushed): Pick<PushOutcome, 'digest_source' | 'digest_unresolved'> {
  if (push.digest) return { digest_source: push.digest_source ?? 'registry' };
  return push.digest_unresolved ? { digest_unresolved: push.digest_unresolved } : {};
}

const summary = (r: Rollout): RolloutSummary => ({ id: r.id, status: r.status, policy_id: r.policy_id, image: r.image });
const policyRef = (p: Policy): PolicyRef => ({ id: p.id, name: p.name, priority: p.priority ?? 0, image_pattern: p.image_pattern });

/**
 * A digest the registry names is the content, so every notification of it is one rollout;
 * without one (Docker Hub) the delivery id tells two pushes of a tag apart. A digest looked up
 * on arrival (`resolved`) pins the rollout's image but is not its identity: copies of one
 * notification must stay one rollout even when one copy's look-up failed, and a tag moved back
 * to content it named before is a new push, to roll out again, not the old rollout found anew.
 */
export function rolloutIdFor(push: ImagePushed): string {
  const byDigest = push.digest !== undefined && push.digest_source !== 'resolved';
  const identity = [push.registry, push.repository, push.tag, byDigest ? push.digest : `delivery:${push.delivery_id}`].join('|');
  return `ro-${createHash('sha256').update(identity).digest('hex').slice(0, 24)}`;
}

/** `repository:tag@digest` when the digest is known, so devices pull exactly what was pushed. */
export function rolloutImageOf(push: Pick<ImagePushed, 'repository' | 'tag' | 'digest'>): string {
  return `${push.repository}:${push.tag}${push.digest ? `@${push.digest}` : ''}`;
}

/**
 * The settings a rollout keeps of its policy, field by field (the fields of the settings'
 * schema): nothing else the object carries comes along.
 */
function settingsOf(policy: Policy): PolicySettings {
  const settings = withDefaults(policy);
  return Object.fromEntries(Object.keys(policySettingsSchema.shape).map((field) => [field, settings[field as keyof PolicySettings]])) as unknown as PolicySettings;
}

export function newRollout(push: ImagePushed, policy: Policy, now: Date): Rollout {
  const at = now.toISOString();
  const settings = settingsOf(policy);
  const approvals = settings.approvals_required ?? 0;
  const deadline = approvals > 0 && settings.approval_deadline_minutes ? minutesLater(now, settings.approval_deadline_minutes) : undefined;
  return {
    id: rolloutIdFor(push),
    policy_id: policy.id,
    registry: push.registry,
    repository: push.repository,
    tag: push.tag,
    ...(push.digest ? { digest: push.digest } : {}),
    image: rolloutImageOf(push),
    pushed_at: push.pushed_at,
    delivery_id: push.delivery_id,
    status: 'pending',
    ...(approvals > 0 ? { status_reason: 'waiting for approval' } : {}),
    ...(deadline ? { approval_deadline_at: deadline } : {}),
    policy: settings,
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

/** Handles one push: its rollout, or why there is none. A copy of a handled delivery answers the same. */
export async function rolloutForPush(received: ImagePushed, now: Date): Promise<{ outcome: PushOutcome; rollout?: RolloutSummary }> {
  const claim = await claimDelivery<PushOutcome>({ registry: received.registry, delivery_id: received.delivery_id, push: received, received_at: now.toISOString() });
  const push = claim.delivery.push;
  const done = claim.delivery.outcome;
  if (done) {
    const existing = done.rollout_id ? await getRollout(done.rollout_id) : undefined;
    // Outcomes recorded before tag policies have no declined policies.
    return { outcome: { ...done, declined_policies: done.declined_policies ?? [] }, ...(existing ? { rollout: summary(existing) } : {}) };
  }

  const image = { repository: normaliseRepository(push.repository), tag: push.tag, digest: push.digest ?? null, ...digestNote(push) };
  const policies = await allPolicies();
  const refusals = await tagPolicyRefusals(matchingPolicies(policies, push.repository, push.tag), image.repository, push.tag);
  const { winner, passedOver, declined: declinedPolicies } = choosePolicy(policies, push.repository, push.tag, refusals);
  const declined = declinedPolicies.map(({ policy, reason }): DeclinedPolicy => ({ ...policyRef(policy), reason }));
  const declinedWhy = declined.map((d) => `policy ${d.name ?? d.id}: ${d.reason}`).join('; ');
  if (!winner) {
    const why = declined.length > 0 ? `no enabled policy takes ${image.repository}:${push.tag}: ${declinedWhy}` : `no enabled policy matches ${image.repository}:${push.tag}`;
    const outcome: PushOutcome = { ...image, rollout_id: null, policy: null, passed_over_policies: [], declined_policies: declined, message: `${why}; nothing rolls out` };
    logger.info(`push ignored: ${why}`, { registry: push.registry, repository: push.repository, tag: push.tag, digest: push.digest, delivery_id: push.delivery_id, declined_policies: declined.map((d) => d.id) });
    await recordDeliveryOutcome(push.registry, push.delivery_id, outcome);
    return { outcome };
  }

  const passed = passedOver.map(policyRef);
  const planned = newRollout(push, winner, now);
  await listPolicyRollout(image.repository, planned);
  const { rollout, created } = await createRollout(planned, creationEvents(planned, push, winner, passed, declined));
  // Planning is asked for again by a copy of the push while it has not finished (the tick would too).
  if (created || !rollout.planning.done) await sendOrchestration({ type: 'plan', rollout_id: rollout.id, seq: 0 });
  const outcome: PushOutcome = {
    ...image,
    rollout_id: rollout.id,
    policy: policyRef(winner),
    passed_over_policies: passed,
    declined_policies: declined,
    message:
      `rollout ${rollout.id} of ${rollout.image} under policy ${winner.name ?? winner.id}` +
      (passed.length > 0 ? `; passed over ${passed.map((p) => p.name ?? p.id).join(', ')}` : '') +
      (declined.length > 0 ? `; declined by tag policy: ${declinedWhy}` : '') +
      (image.digest_unresolved ? `; by tag, the digest was not resolved: ${image.digest_unresolved}` : ''),
  };
  logger.info(`push received: ${rollout.image}`, { rollout_id: rollout.id, policy_id: winner.id, passed_over: passed.map((p) => p.id), delivery_id: push.delivery_id });
  await recordDeliveryOutcome(push.registry, push.delivery_id, outcome);
  return { outcome, rollout: summary(rollout) };
}

/** The events of a rollout's creation, written with it (a crash right after leaves them on the rollout for its next read). */
function creationEvents(rollout: Rollout, push: ImagePushed, policy: Policy, passedOver: PolicyRef[], declined: DeclinedPolicy[]): NewEvent[] {
  return [
    {
      type: 'image.webhook_received',
      rollout_id: rollout.id,
      timestamp: rollout.created_at,
      details: { registry: push.registry, repository: push.repository, tag: push.tag, digest: push.digest ?? null, ...digestNote(push), delivery_id: push.delivery_id, pushed_at: push.pushed_at },
    },
    {
      type: 'image.rollout_created',
      rollout_id: rollout.id,
      timestamp: rollout.created_at,
      order: 1,
      details: { policy: policyRef(policy), policy_id: policy.id, passed_over_policies: passedOver, declined_policies: declined, image: rollout.image, ...digestNote(push), strategy: rollout.policy.update_strategy },
    },
  ];
}
