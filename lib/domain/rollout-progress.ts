/**
 * The rules of a rollout's life, as pure functions: which transitions are allowed, how far a batch
 * has come, the failure rate, and what the next step of an in-progress rollout is.
 */
import type { Batch, BatchCounts, DeviceRolloutStatus, Rollout, RolloutDevice, RolloutStatus, StatusCounts } from './types';
import { deviceRolloutStatuses } from './types';
import { devicesIn } from './batch-plan';
import { windowState } from './maintenance-windows';
import { pacingStep } from './pacing';

const rolloutTransitions: Record<RolloutStatus, readonly RolloutStatus[]> = {
  pending: ['in_progress', 'cancelled', 'failed'],
  in_progress: ['paused', 'completed', 'cancelled', 'rolled_back', 'failed'],
  paused: ['in_progress', 'cancelled', 'rolled_back', 'failed'],
  completed: ['rolled_back'],
  cancelled: [],
  rolled_back: [],
  failed: [],
};

export function canTransitionRollout(from: RolloutStatus, to: RolloutStatus): boolean {
  return rolloutTransitions[from].includes(to);
}

/** Why `from → to` is not allowed, in words an operator understands; undefined when it is. */
export function transitionRefusal(id: string, from: RolloutStatus, to: RolloutStatus, action: string): string | undefined {
  if (canTransitionRollout(from, to)) return undefined;
  const allowed = (Object.keys(rolloutTransitions) as RolloutStatus[]).filter((s) => rolloutTransitions[s].includes(to));
  return `cannot ${action} rollout ${id}: it is ${from}; only a rollout that is ${allowed.join(' or ')} can be`;
}

const deviceTransitions: Record<DeviceRolloutStatus, readonly DeviceRolloutStatus[]> = {
  // A device may report the new image before its row is marked scheduled (it polled quickly).
  pending: ['scheduled', 'updated', 'failed', 'skipped'],
  scheduled: ['updated', 'failed', 'rolled_back', 'skipped'],
  // Skipped: the device was deleted while it waited for its health check.
  updated: ['healthy', 'unhealthy', 'failed', 'rolled_back', 'skipped'],
  healthy: ['rolled_back'],
  unhealthy: ['rolled_back'],
  failed: ['rolled_back'],
  rolled_back: [],
  skipped: [],
};

export function deviceStatusesLeadingTo(to: DeviceRolloutStatus): DeviceRolloutStatus[] {
  return deviceRolloutStatuses.filter((from) => deviceTransitions[from].includes(to));
}

/** Statuses in which a device runs (or may run) the rollout's image, so a rollback has work to do. */
export const rollbackableStatuses: readonly DeviceRolloutStatus[] = deviceStatusesLeadingTo('rolled_back');

/** Moving into one of these makes a device a failure of its rollout, for good. */
export const failureStatuses: readonly DeviceRolloutStatus[] = ['failed', 'unhealthy'];

/** Whether a device's row is one of its rollout's failures (see BatchCounts). */
export function countsAsFailure(row: Pick<RolloutDevice, 'status' | 'failed_at'>): boolean {
  return failureStatuses.includes(row.status) || (row.status === 'rolled_back' && row.failed_at !== undefined);
}

export function emptyCounts(): BatchCounts {
  return { pending: 0, scheduled: 0, updated: 0, healthy: 0, unhealthy: 0, failed: 0, rolled_back: 0, skipped: 0, failures: 0 };
}

export function addCounts(a: BatchCounts, b: Partial<BatchCounts>): BatchCounts {
  const sum = { ...a };
  for (const status of deviceRolloutStatuses) sum[status] += b[status] ?? 0;
  sum.failures += b.failures ?? 0;
  return sum;
}

export function sumCounts(countsByBatch: ReadonlyMap<number, BatchCounts>): BatchCounts {
  let all = emptyCounts();
  for (const counts of countsByBatch.values()) all = addCounts(all, counts);
  return all;
}

export function totalOf(counts: StatusCounts): number {
  return deviceRolloutStatuses.reduce((n, status) => n + counts[status], 0);
}

/** Every device of the batch has been reached and none is still on its way to the new image. */
export function isUpdatePhaseOver(batch: Batch, counts: StatusCounts): boolean {
  return totalOf(counts) >= devicesIn(batch) && counts.pending === 0 && counts.scheduled === 0;
}

/** Devices that got past `scheduled`; skipped devices never ran the image and do not count. */
function processedOf(counts: StatusCounts): number {
  return counts.updated + counts.healthy + counts.unhealthy + counts.failed + counts.rolled_back;
}

/**
 * Failures / devices processed. Failures include devices rolled back after they failed, but not
 * those an admin rolled back while they were fine: rolling back a good release is no failure of it.
 */
export function failureRate(counts: BatchCounts): number {
  const processed = processedOf(counts);
  return processed === 0 ? 0 : counts.failures / processed;
}

/** What admins read about a rollout's progress, from the counts of its batches. */
export function rolloutStatistics(rollout: Rollout, countsByBatch: ReadonlyMap<number, BatchCounts>) {
  const { failures, ...counts } = sumCounts(countsByBatch);
  const processed = processedOf(counts);
  return {
    total_devices: rollout.total_devices,
    ...counts,
    pending: Math.max(0, rollout.total_devices - totalOf(counts)),
    failures,
    current_batch: rollout.current_batch,
    total_batches: rollout.batches.length,
    progress_percent: rollout.total_devices === 0 ? (rollout.planning.done ? 100 : 0) : Math.round((1000 * processed) / rollout.total_devices) / 10,
    failure_rate: Math.round(10000 * failureRate({ ...counts, failures })) / 10000,
  };
}

/** Work to redo when a fan-out has taken too long: send it again, or only recount the batch. */
export type Resend = 'targets' | 'health' | 'rollback' | 'recount';

export type NextStep =
  | { type: 'start_batch'; batch: number }
  | { type: 'time_out_batch'; batch: number }
  /**
   * A paced batch (lib/domain/pacing.ts): ask its scheduler to go on (its last request is older
   * than the fan-out grace), or, with `held_by_failures`, time the batch out now: that many failed
   * and unhealthy devices nothing will roll back hold its whole budget.
   */
  | { type: 'continue_scheduling'; batch: number; held_by_failures?: number }
  | { type: 'start_health_checks'; batch: number }
  | { type: 'roll_back_failures'; batch: number }
  | { type: 'retry_failures'; batch: number; round: number }
  | { type: 'complete_batch'; batch: number }
  | { type: 'pause_for_failures'; batch: number; failure_rate: number }
  | { type: 'complete_rollout' }
  | { type: 'wait'; until?: string; resend?: Resend; /** The batch waits for a maintenance window, which opens then. */ window?: { batch: number; opens_at: string } }
  | { type: 'none'; reason: string };

/**
 * Whether the step rests on the counters being exact: it moves a batch on because its devices are
 * through a phase. Counters are a fast, nearly always exact summary (a crash can lose a count, and
 * the retry of a write that happened but answered an error counts it twice), so such a step is
 * taken only once the rows agree.
 */
export function restsOnCounts(step: NextStep): boolean {
  return (
    step.type === 'start_health_checks' ||
    step.type === 'retry_failures' ||
    step.type === 'roll_back_failures' ||
    step.type === 'complete_batch' ||
    step.type === 'pause_for_failures' ||
    (step.type === 'continue_scheduling' && step.held_by_failures !== undefined)
  );
}

/** Counts no set of rows can have: some status below zero, or more devices than the batch has. */
export function impossibleCounts(batch: Batch, counts: BatchCounts): boolean {
  return deviceRolloutStatuses.some((status) => counts[status] < 0) || counts.failures < 0 || totalOf(counts) > devicesIn(batch);
}

/**
 * How long a fan-out may take before the step that requested it is taken to have lost a message:
 * four ticks (two minutes with the 30-second tick).
 */
export function fanOutGraceFor(tickSeconds: number): number {
  return 4 * tickSeconds * 1000;
}
export const fanOutGraceMs = fanOutGraceFor(30);

/**
 * A device's count follows its move within milliseconds; a shard whose last move is this old has
 * every count that is coming, so a recount may repair what is still missing (a crash's loss).
 */
export const countSettleMs = 5_000;

/**
 * What an in-progress rollout should do now, given the counts of each batch. Applying the step and
 * asking again walks the rollout forward; `wait` and `none` mean nothing is due (a `wait` may ask
 * to resend a fan-out that has taken too long).
 */
export function nextStep(rollout: Rollout, countsByBatch: ReadonlyMap<number, BatchCounts>, now: Date, graceMs = fanOutGraceMs): NextStep {
  const overdue = (since: string | undefined) => since !== undefined && now.getTime() - Date.parse(since) >= graceMs;
  if (rollout.status !== 'in_progress') return { type: 'none', reason: `rollout is ${rollout.status}` };
  if (!rollout.planning.done) return { type: 'none', reason: 'rollout is still being planned' };
  if (rollout.batches.length === 0) return { type: 'complete_rollout' };
  if (rollout.current_batch === 0) return startInWindow(rollout, 1, now);

  const batch = rollout.batches[rollout.current_batch - 1];
  if (!batch) return { type: 'none', reason: `batch ${rollout.current_batch} does not exist` };
  if (batch.status === 'pending') return startInWindow(rollout, batch.number, now);
  if (batch.status === 'completed') {
    if (batch.number === rollout.batches.length) return { type: 'complete_rollout' };
    const due = rollout.promotion ? undefined : rollout.next_batch_due_at;
    if (!due || Date.parse(due) <= now.getTime()) return startInWindow(rollout, batch.number + 1, now);
    return { type: 'wait', until: due };
  }

  const counts = countsByBatch.get(batch.number) ?? emptyCounts();
  const policy = rollout.policy;
  if (!isUpdatePhaseOver(batch, counts)) {
    if (batch.deadline_at && Date.parse(batch.deadline_at) <= now.getTime()) return { type: 'time_out_batch', batch: batch.number };
    // Long after the fan-out: devices never reached mean a lost message; all reached but still
    // counted as on their way may mean a count lost to a crash, worth a recount now and then.
    const reached = totalOf(counts);
    const sinceFanOut = batch.schedule_requested_at ?? batch.started_at;
    const paced = pacingStep(rollout, batch, countsByBatch, overdue(sinceFanOut));
    if (paced) return paced;
    const resend =
      reached < devicesIn(batch) && overdue(sinceFanOut)
        ? ('targets' as const)
        : overdue(batch.recounted_at ?? sinceFanOut)
          ? ('recount' as const)
          : undefined;
    return { type: 'wait', ...(batch.deadline_at ? { until: batch.deadline_at } : {}), ...(resend ? { resend } : {}) };
  }
  if (policy.health_check_enabled && !rollout.promotion?.full && counts.updated > 0) {
    if (!batch.health_checks_requested_at) return { type: 'start_health_checks', batch: batch.number };
    return { type: 'wait', ...(overdue(batch.health_checks_requested_at) ? { resend: 'health' as const } : {}) };
  }
  // `retry_failed`: the batch's failed and unhealthy devices are scheduled again, a round at a time.
  const rounds = batch.retry_rounds ?? 0;
  if (counts.failed + counts.unhealthy > 0 && rounds < (policy.retry_failed ?? 0)) return { type: 'retry_failures', batch: batch.number, round: rounds + 1 };
  if (policy.auto_rollback_enabled && counts.failed + counts.unhealthy > 0) {
    if (!batch.rollbacks_requested_at) return { type: 'roll_back_failures', batch: batch.number };
    return { type: 'wait', ...(overdue(batch.rollbacks_requested_at) ? { resend: 'rollback' as const } : {}) };
  }

  const rate = failureRate(sumCounts(countsByBatch));
  if (rate > policy.max_failure_rate) return { type: 'pause_for_failures', batch: batch.number, failure_rate: rate };
  return { type: 'complete_batch', batch: batch.number };
}

/**
 * Starts the batch if a maintenance window is open (or the policy has none, or an admin promoted
 * the rollout past its windows); otherwise waits for the next window to open.
 */
function startInWindow(rollout: Rollout, batch: number, now: Date): NextStep {
  const windows = rollout.policy.maintenance_windows ?? [];
  if (windows.length === 0 || rollout.promotion) return { type: 'start_batch', batch };
  const state = windowState(windows, now);
  if (state.open) return { type: 'start_batch', batch };
  if (!state.opens_at) return { type: 'none', reason: 'no maintenance window of the policy ever opens again' };
  const opens = state.opens_at.toISOString();
  return { type: 'wait', until: opens, window: { batch, opens_at: opens } };
}

export function minutesLater(from: Date, minutes: number): string {
  return new Date(from.getTime() + minutes * 60_000).toISOString();
}
