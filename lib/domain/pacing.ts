/**
 * Pacing a rollout, as pure rules: how many of its devices may be given the new image now, under
 * the policy's `max_devices_per_minute` (a rate) and `max_unavailable` (a disruption budget), how
 * long a paced batch may take, and when a paced batch can no longer move.
 *
 * The rate: devices are scheduled in groups of at most R; a group takes devices until it is full,
 * and the next group opens no sooner than 60 s after the last device of the one before. Any 60
 * seconds then hold devices of one group only, so never more than R. (This is stricter than R
 * per calendar minute, which lets 2R through across a minute's edge, and a little slower than a
 * sliding log would be when a group fills slowly.)
 *
 * The budget: unavailable devices are those given the new image and not yet reported running it
 * (`scheduled`), those `unhealthy`, and those `failed` and not rolled back, over all batches of
 * the rollout. Scheduling takes no more than M minus those.
 */
import { devicesIn } from './batch-plan';
import type { NextStep } from './rollout-progress';
import { deviceRolloutStatuses, type Batch, type BatchCounts, type PolicySettings, type Rollout, type StatusCounts } from './types';

export interface Pacing {
  maxPerMinute: number | null;
  maxUnavailable: number | null;
}

type PacingSettings = Partial<Pick<PolicySettings, 'max_devices_per_minute' | 'max_unavailable'>>;

/** The rollout's pacing; undefined when it has none (settings stored before pacing existed have none). */
export function pacingOf(policy: PacingSettings): Pacing | undefined {
  const maxPerMinute = policy.max_devices_per_minute ?? null;
  const maxUnavailable = policy.max_unavailable ?? null;
  return maxPerMinute === null && maxUnavailable === null ? undefined : { maxPerMinute, maxUnavailable };
}

/** The span no group of the rate may share with another. */
export const rateWindowMs = 60_000;

/** The rate's memory: how many devices the current group took, and when it took its last. */
export interface RateGroup {
  claimed: number;
  last_claim_at: string;
}

/** How many devices the rate lets through at `now`; when none, when the next group opens. */
export function rateRoom(group: RateGroup | undefined, limit: number, now: Date): { room: number; opensAt?: string } {
  if (!group) return { room: limit };
  const opens = Date.parse(group.last_claim_at) + rateWindowMs;
  if (now.getTime() >= opens) return { room: limit };
  const room = Math.max(0, limit - group.claimed);
  return room > 0 ? { room } : { room: 0, opensAt: new Date(opens).toISOString() };
}

/** The group after `n` devices (at most `rateRoom`'s room) were taken at `now`. */
export function claimRate(group: RateGroup | undefined, n: number, now: Date): RateGroup {
  const at = now.toISOString();
  if (!group || now.getTime() >= Date.parse(group.last_claim_at) + rateWindowMs) return { claimed: n, last_claim_at: at };
  return { claimed: group.claimed + n, last_claim_at: at > group.last_claim_at ? at : group.last_claim_at };
}

/** Devices of these counts that are unavailable: scheduled, unhealthy, or failed and not rolled back. */
export function unavailableOf(counts: StatusCounts): number {
  return Math.max(0, counts.scheduled) + Math.max(0, counts.unhealthy) + Math.max(0, counts.failed);
}

export function unavailableIn(countsByBatch: ReadonlyMap<number, BatchCounts>): number {
  let sum = 0;
  for (const counts of countsByBatch.values()) sum += unavailableOf(counts);
  return sum;
}

/** How many more devices the budget lets through (never below 0). */
export function budgetRoom(maxUnavailable: number, countsByBatch: ReadonlyMap<number, BatchCounts>): number {
  return Math.max(0, maxUnavailable - unavailableIn(countsByBatch));
}

/**
 * How many devices may be scheduled now, at most `wanted`, and what holds the rest back: the rate
 * (until `opensAt`) or the budget (until devices settle). `countsByBatch` is needed only with a budget.
 */
export function allowance(
  pacing: Pacing,
  wanted: number,
  group: RateGroup | undefined,
  countsByBatch: ReadonlyMap<number, BatchCounts> | undefined,
  now: Date,
): { granted: number; heldBy?: 'rate' | 'budget'; opensAt?: string } {
  const rate = pacing.maxPerMinute === null ? { room: Number.POSITIVE_INFINITY } : rateRoom(group, pacing.maxPerMinute, now);
  const budget = pacing.maxUnavailable === null ? Number.POSITIVE_INFINITY : budgetRoom(pacing.maxUnavailable, countsByBatch ?? new Map());
  const granted = Math.max(0, Math.min(wanted, rate.room, budget));
  if (granted >= wanted) return { granted };
  // The budget first: a group opening later changes nothing while the budget is full.
  if (budget <= rate.room) return { granted, heldBy: 'budget' };
  // The group is full once these are taken: the next opens a minute after now.
  const opensAt = rate.room === 0 ? rate.opensAt! : new Date(now.getTime() + rateWindowMs).toISOString();
  return { granted, heldBy: 'rate', opensAt };
}

/**
 * When a paced batch times out: after the minutes its pacing needs at the least, and an update
 * timeout for every wave of the budget (a wave whose devices all time out frees the budget only
 * then): `start + ceil(N / R) + ceil(N / M) × update_timeout_minutes`, each term only where set.
 * Unpaced: `start + update_timeout_minutes`. A paced device also times out by itself,
 * `update_timeout_minutes` after it was scheduled; the batch deadline is the backstop.
 */
export function batchDeadline(start: Date, policy: PacingSettings & Pick<PolicySettings, 'update_timeout_minutes'>, size: number): string {
  const pacing = pacingOf(policy);
  const rateMinutes = pacing?.maxPerMinute ? Math.ceil(size / pacing.maxPerMinute) : 0;
  const waves = pacing?.maxUnavailable ? Math.max(1, Math.ceil(size / pacing.maxUnavailable)) : 1;
  return new Date(start.getTime() + (rateMinutes + waves * policy.update_timeout_minutes) * 60_000).toISOString();
}

/**
 * The budget is held for good: failed and unhealthy devices that nothing will roll back
 * (auto-rollback is off) fill it, and none of the rollout's devices is on its way to settling.
 * Returns how many hold it, or undefined while scheduling can still go on.
 */
export function heldByFailures(pacing: Pacing, autoRollback: boolean, countsByBatch: ReadonlyMap<number, BatchCounts>): number | undefined {
  if (pacing.maxUnavailable === null || autoRollback) return undefined;
  let stuck = 0;
  let onTheirWay = 0;
  for (const counts of countsByBatch.values()) {
    stuck += Math.max(0, counts.failed) + Math.max(0, counts.unhealthy);
    onTheirWay += Math.max(0, counts.scheduled);
  }
  return stuck >= pacing.maxUnavailable && onTheirWay === 0 ? stuck : undefined;
}

function reached(counts: StatusCounts): number {
  return deviceRolloutStatuses.reduce((n, status) => n + counts[status], 0);
}

/** Devices of the batch not yet given the new image (never scheduled). */
export function waitingIn(batch: Batch, counts: StatusCounts | undefined): number {
  return Math.max(0, devicesIn(batch) - (counts ? reached(counts) : 0));
}

/**
 * nextStep's part for a paced batch in its update phase, before its deadline: undefined when the
 * batch is not paced or has reached all its devices (the usual rules apply). Scheduling goes on
 * by itself (the paced scheduler's own hand-ons, device reports waking it); batch-advance asks for
 * it again only once the last request is older than the fan-out grace (a lost message), and
 * gives the batch up when its budget is held for good (`held_by_failures`).
 */
export function pacingStep(rollout: Rollout, batch: Batch, countsByBatch: ReadonlyMap<number, BatchCounts>, requestOverdue: boolean): NextStep | undefined {
  const pacing = pacingOf(rollout.policy);
  if (!pacing || waitingIn(batch, countsByBatch.get(batch.number)) === 0) return undefined;
  const held = heldByFailures(pacing, rollout.policy.auto_rollback_enabled, countsByBatch);
  if (held !== undefined) return { type: 'continue_scheduling', batch: batch.number, held_by_failures: held };
  if (requestOverdue) return { type: 'continue_scheduling', batch: batch.number };
  return { type: 'wait', ...(batch.deadline_at ? { until: batch.deadline_at } : {}) };
}

/** What a paced batch's batch_started event says of its pacing (nothing for an unpaced one). */
export function pacingEventDetails(policy: PacingSettings): { pacing?: { max_devices_per_minute: number | null; max_unavailable: number | null } } {
  const pacing = pacingOf(policy);
  return pacing ? { pacing: { max_devices_per_minute: pacing.maxPerMinute, max_unavailable: pacing.maxUnavailable } } : {};
}
