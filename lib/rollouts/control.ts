/**
 * Admin commands on a rollout. Each checks the transition against the rules (409 saying why when
 * it is not allowed), writes it conditioned on the version it read, records the event, and hands
 * follow-up work to the queues. Device work is never done under the rollout's version: it is
 * idempotent on its own, so a retry of the command finishes it.
 */
import { z } from 'zod';
import { approvalProgress, approvalRefusal, approvalsOf, awaitedStage, isApproved, requiredApprovals, type Approval } from '../domain/approvals';
import { deviceRollbackRefusal, promotedBatches, promoteRefusal, resumeRefusal, revertedOnCancel, revertedOnRollbackAll, startAtProblem, startGate, startRefusal } from '../domain/rollout-control';
import { batchDeadline } from '../domain/pacing';
import { minutesLater, transitionRefusal } from '../domain/rollout-progress';
import { devicesIn, stopUnfinishedBatches } from '../domain/batch-plan';
import { isNewerPush, rolloutIdOfRank, rolloutRank } from '../domain/push-order';
import { activeRolloutStatuses, type EventType, type Rollout, type RolloutStatus } from '../domain/types';
import type { NewEvent } from '../store/events';
import { Conflict, Invalid, NotFound } from '../errors';
import { logger } from '../logger';
import { sendOrchestration, sendRevertCommands, type RevertCommand } from '../queues/messages';
import { normaliseRepository } from '../registry';
import { shardOf } from '../store/keys';
import { findRolloutDevice } from '../store/rollout-devices';
import { getRollout, newestStartedPush, recordStartedPush, rolloutsWithStatus, saveRollout } from '../store/rollouts';
import { fanOutTargets } from './device-transitions';
import { startedDetails } from './rollout-events';
import { batchOf, endingSweep, revertDevice, revertPage, sweepCommands } from './rollbacks';
import { readRollout, rolloutViewSchema } from './views';

/** The body of pause, cancel, rollback-all and a device's rollback: why, for the event log. */
export const controlReasonSchema = z.strictObject({ reason: z.string().trim().min(1).max(500).optional() });

/** What a control command answers: the rollout as it left it, as `GET /rollouts/{rolloutId}` shows it. */
export const rolloutResponseSchema = z.object({ rollout: rolloutViewSchema });
/** `202` of a start that came while the rollout was still being planned: it starts once planned. */
export const startRequestedSchema = z.object({ rollout: rolloutViewSchema, message: z.string() });
export const rollbackAllResultSchema = z.object({
  rollout: rolloutViewSchema,
  devices_rolled_back: z.number().int(),
  devices_failed: z.number().int(),
  /** The devices left after the request's time budget are rolled back through the rollback queue. */
  finishing_in_background: z.boolean(),
});
export const deviceRollbackResultSchema = z.object({
  rollout_id: z.string(),
  device_uuid: z.string(),
  status: z.literal('rolled_back'),
  apps: z.array(z.object({ app: z.string(), from_image: z.string(), to_image: z.string(), outcome: z.enum(['rolled_back', 'skipped', 'unchanged', 'failed']) })),
});

/**
 * Applies a status change at the version read, retrying on a concurrent change (batch-advance may
 * have moved the rollout meanwhile) as long as the change is still allowed.
 */
async function transition(
  id: string,
  to: RolloutStatus,
  action: string,
  now: Date,
  options: {
    change?: (rollout: Rollout) => Partial<Rollout>;
    extraCheck?: (rollout: Rollout) => string | undefined;
    /** The event that records the change, written with it (details from the rollout as read). */
    event?: { type: EventType; details: (rollout: Rollout) => Record<string, unknown> };
  } = {},
): Promise<Rollout> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const rollout = await readRollout(id);
    const refusal = transitionRefusal(id, rollout.status, to, action) ?? options.extraCheck?.(rollout);
    if (refusal) throw new Conflict(refusal);
    const at = now.toISOString();
    const next: Rollout = { ...rollout, ...options.change?.(rollout), status: to, version: rollout.version + 1, updated_at: at };
    const event = options.event;
    const events = event ? [{ type: event.type, rollout_id: id, timestamp: at, order: next.version, details: event.details(rollout) }] : [];
    if (await saveRollout(next, events)) return next;
  }
  throw new Conflict(`rollout ${id} kept changing; try again`);
}

/** The body of start: when to start (ISO 8601 with a time zone); absent or already past means now. */
export const startBodySchema = z.strictObject({
  start_at: z.iso.datetime({ offset: true }).optional(),
});

/**
 * Starts a manual rollout, now or at `startAt`. One still being planned, or scheduled for later,
 * is marked to start (`started: false` then), and starts once planned and due: planning starts it
 * when it has recorded every device, batch-advance when its start time comes (a wake-up, or the
 * tick). Scheduling again replaces the time; a start without one starts it now.
 */
export async function startRollout(id: string, now: Date, startAt?: string): Promise<{ rollout: Rollout; started: boolean }> {
  const at = now.toISOString();
  const later = startAt !== undefined && Date.parse(startAt) > now.getTime() ? new Date(startAt).toISOString() : undefined;
  if (startAt !== undefined) {
    const problem = startAtProblem(startAt, now);
    if (problem) throw new Invalid(`start_at: ${problem}`);
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    const rollout = await readRollout(id);
    const refused = startRefusal(rollout);
    if (refused) throw new Conflict(refused);
    if (rollout.planning.done && !later) break;
    if (rollout.start_requested_at && rollout.start_at === later) return { rollout, started: false };
    const marked: Rollout = { ...rollout, start_requested_at: at, version: rollout.version + 1, updated_at: at };
    if (later) Object.assign(marked, { start_at: later, status_reason: startGateReason(later) });
    else delete marked.start_at;
    const events = later ? [{ type: 'image.rollout_start_scheduled' as const, rollout_id: id, timestamp: at, order: marked.version, details: { start_at: later } }] : [];
    if (!(await saveRollout(marked, events))) continue;
    // Batch-advance makes sure a wake-up comes at the time; one still being planned is looked at once planned.
    if (later && marked.planning.done) await sendOrchestration({ type: 'evaluate', rollout_id: id, reason: 'start scheduled' }, `start-at-${at}`);
    return { rollout: marked, started: false };
  }
  const planned = await readRollout(id);
  const newer = await newestStartedPush(normaliseRepository(planned.repository));
  if (newer && newer > rolloutRank(planned)) {
    throw new Conflict(`cannot start rollout ${id}: a newer push of ${planned.repository} has started rollout ${rolloutIdOfRank(newer)}; starting this one would move devices back to an older image`);
  }
  return startPlanned(id, now, { start_requested_at: at, start_at: undefined });
}

const startGateReason = (startAt: string) => `scheduled to start at ${startAt}`;

/**
 * Starts a planned, pending rollout whose start gate is open (`changes` first, as an admin's start
 * records its request): in progress, the started event, newer pushes' check, the first evaluation.
 * `started: false` when a newer push superseded it instead.
 */
export async function startPlanned(id: string, now: Date, changes: Partial<Rollout> = {}): Promise<{ rollout: Rollout; started: boolean }> {
  const next = await transition(id, 'in_progress', 'start', now, {
    change: () => ({ ...changes, status_reason: undefined, started_at: now.toISOString() }),
    extraCheck: (r) => {
      const gate = startGate({ ...r, ...changes }, now);
      return gate.ready ? undefined : `cannot start rollout ${id} yet: ${gate.reason}`;
    },
    event: { type: 'image.rollout_started', details: startedDetails },
  });
  // A newer push started meanwhile: this one is cancelled, and says so.
  if (await supersedeOlderRollouts(next, now)) return { rollout: await readRollout(id), started: false };
  await sendOrchestration({ type: 'evaluate', rollout_id: id, reason: 'started' }, `start-${next.started_at ?? now.toISOString()}`);
  return { rollout: next, started: true };
}

export async function pauseRollout(id: string, reason: string | undefined, now: Date): Promise<Rollout> {
  const why = reason ?? 'paused by an admin';
  return transition(id, 'paused', 'pause', now, {
    change: () => ({ status_reason: why }),
    event: { type: 'image.rollout_paused', details: () => ({ reason: why, automatic: false }) },
  });
}

export async function resumeRollout(id: string, now: Date): Promise<Rollout> {
  const next = await transition(id, 'in_progress', 'resume', now, {
    change: (r) => {
      // The batch under way gets its whole update timeout again: time paused is not the devices' fault.
      const resumed_at = now.toISOString();
      const batches = r.batches.map((b) => (b.number === r.current_batch && b.status === 'in_progress' ? { ...b, deadline_at: batchDeadline(now, r.policy, devicesIn(b)), resumed_at } : b));
      return { status_reason: undefined, batches };
    },
    extraCheck: resumeRefusal,
    event: { type: 'image.rollout_resumed', details: (r) => (r.status_reason ? { paused_for: r.status_reason } : {}) },
  });
  // Scheduling stopped at the pause; pages already done are skipped when it starts again.
  const batch = next.batches[next.current_batch - 1];
  if (batch?.status === 'in_progress') await fanOutTargets(next, batch.number);
  await sendOrchestration({ type: 'evaluate', rollout_id: id, reason: 'resumed by admin' }, `resume-${now.toISOString()}`);
  return next;
}

/** The body of approve and reject: what the admin has to say, for the event log. */
export const approvalBodySchema = z.strictObject({ comment: z.string().trim().min(1).max(500).optional() });

/** Who approves or rejects: the admin key and the name it was given. */
export interface Approver {
  key_id: string;
  name: string;
}

/**
 * Records an admin's approval of the stage the rollout waits for (its start, or going on after a
 * batch); with the last approval it needs, the rollout goes on: a planned rollout starts (when
 * nothing else holds it: a manual one still waits for its start), a paused one resumes.
 */
export async function approveRollout(id: string, approver: Approver, comment: string | undefined, now: Date): Promise<Rollout> {
  const at = now.toISOString();
  for (let attempt = 0; attempt < 5; attempt++) {
    const rollout = await readRollout(id);
    const refused = approvalRefusal(rollout, approver.key_id, 'approve');
    if (refused) throw new Conflict(refused);
    const stage = awaitedStage(rollout)!;
    const approval: Approval = { key_id: approver.key_id, name: approver.name, at, after_batch: stage, ...(comment ? { comment } : {}) };
    const next: Rollout = { ...rollout, approvals: [...(rollout.approvals ?? []), approval], version: rollout.version + 1, updated_at: at };
    const approved = isApproved(next, stage);
    if (approved && stage > 0) {
      Object.assign(next, { status: 'in_progress' as const });
      delete next.awaiting_approval;
      delete next.status_reason;
    } else if (approved) {
      const gate = startGate(next, now);
      if (gate.ready) delete next.status_reason;
      else next.status_reason = gate.reason;
    } else {
      next.status_reason = `waiting for approval (${approvalProgress(next, stage)})`;
    }
    const events: NewEvent[] = [
      {
        type: 'image.rollout_approved',
        rollout_id: id,
        timestamp: at,
        order: next.version,
        details: { by: approver.name, key_id: approver.key_id, after_batch: stage, approvals: approvalsOf(next, stage).length, approvals_required: requiredApprovals(next.policy, stage), ...(comment ? { comment } : {}) },
      },
    ];
    if (approved && stage > 0) {
      next.version += 1;
      events.push({ type: 'image.rollout_resumed', rollout_id: id, timestamp: at, order: next.version, details: { paused_for: rollout.status_reason ?? 'approval', approved_by: approvalsOf(next, stage).map((a) => a.name) } });
    }
    if (!(await saveRollout(next, events, rollout.version))) continue;
    if (approved && stage > 0) await sendOrchestration({ type: 'evaluate', rollout_id: id, reason: 'approved' }, `approve-${at}`);
    else if (approved && next.planning.done && startGate(next, now).ready) {
      try {
        return (await startPlanned(id, now)).rollout;
      } catch (error) {
        // Started or ended meanwhile: the answer is the rollout as it is now.
        if (!(error instanceof Conflict)) throw error;
        return readRollout(id);
      }
    } else if (approved && next.start_at) {
      await sendOrchestration({ type: 'evaluate', rollout_id: id, reason: 'approved' }, `approve-${at}`);
    }
    return next;
  }
  throw new Conflict(`rollout ${id} kept changing; try again`);
}

/** An admin's rejection of the stage the rollout waits for approval of: it is cancelled. */
export async function rejectRollout(id: string, approver: Approver, comment: string | undefined, now: Date): Promise<Rollout> {
  const rollout = await readRollout(id);
  const refused = approvalRefusal(rollout, approver.key_id, 'reject');
  if (refused) throw new Conflict(refused);
  const stage = awaitedStage(rollout)!;
  const reason = `rejected by ${approver.name}${comment ? `: ${comment}` : ''}`;
  return cancelRollout(id, reason, now, undefined, { rejected_by: approver.name, key_id: approver.key_id, after_batch: stage });
}

/** The body of promote: why (for the log), and whether the health checks are skipped too. */
export const promoteBodySchema = z.strictObject({
  reason: z.string().trim().min(1).max(500),
  full: z.boolean().default(false),
});

/**
 * Fast-forwards an in-progress rollout in an emergency: the batches not yet started become one,
 * which starts now, without the batch delay or a maintenance window. While the batch under way is
 * still updating, they join it (its deadline renewed for them); once its devices are being
 * checked, the merged batch starts as soon as it completes. `full` skips the health checks from
 * now on too. Health checks already under way, failure pauses and rollbacks still apply.
 */
export async function promoteRollout(id: string, reason: string, full: boolean, now: Date, by?: string): Promise<Rollout> {
  const at = now.toISOString();
  for (let attempt = 0; attempt < 5; attempt++) {
    const rollout = await readRollout(id);
    const refused = promoteRefusal(rollout, full);
    if (refused) throw new Conflict(refused);
    const { batches, joined, merged } = promotedBatches(rollout, minutesLater(now, rollout.policy.update_timeout_minutes));
    const promotion = { reason, full, at, ...(by ? { by } : {}) };
    const next: Rollout = { ...rollout, batches, promotion, version: rollout.version + 1, updated_at: at };
    delete next.next_batch_due_at;
    delete next.next_window_at;
    const event: NewEvent = {
      type: 'image.rollout_promoted',
      rollout_id: id,
      timestamp: at,
      order: next.version,
      details: { reason, full, ...(by ? { by } : {}), merged_batches: merged, ...(joined ? { joined_batch: joined } : {}) },
    };
    if (!(await saveRollout(next, [event]))) continue;
    if (joined) await fanOutTargets(next, joined);
    await sendOrchestration({ type: 'evaluate', rollout_id: id, reason: 'promoted by admin' }, `promote-${at}`);
    return next;
  }
  throw new Conflict(`rollout ${id} kept changing; try again`);
}

/**
 * Cancels a rollout. Devices not yet updated keep (or get back) the image they ran: the rollout
 * will not reach them. When a newer push supersedes it (`supersededBy`), they are handed over
 * instead: their targets stay, and the newer rollout moves them on from there.
 */
export async function cancelRollout(id: string, reason: string | undefined, now: Date, supersededBy?: Rollout, details: Record<string, unknown> = {}): Promise<Rollout> {
  const why = reason ?? 'cancelled by an admin';
  const at = now.toISOString();
  const handOver = supersededBy !== undefined;
  const sweep = endingSweep({ from: [...revertedOnCancel], to: 'skipped', reason: `rollout cancelled: ${why}`, ...(handOver ? { hand_over: true } : {}) }, at);
  const next = await transition(id, 'cancelled', 'cancel', now, {
    change: (r) => ({ status_reason: why, completed_at: at, batches: stopUnfinishedBatches(r.batches, at), sweep }),
    event: { type: 'image.rollout_cancelled', details: () => ({ reason: why, ...(supersededBy ? { superseded_by: supersededBy.id } : {}), ...details }) },
  });
  await sendRevertCommands(sweepCommands(next));
  return next;
}

/** How long rollback-all works inside the request before handing the rest to the rollback queue. */
const rollbackAllBudgetMs = 8_000;

/** What rollback-all did, with the rollout as it left it (the answer shows its view). */
export type RollbackAllOutcome = Omit<z.infer<typeof rollbackAllResultSchema>, 'rollout'> & { rollout: Rollout };

export async function rollbackAll(id: string, reason: string | undefined, now: Date): Promise<RollbackAllOutcome> {
  const why = reason ?? 'rolled back by an admin';
  const at = now.toISOString();
  // The event is the decision; each device's own event records its rollback as it happens.
  const sweep = endingSweep({ from: [...revertedOnRollbackAll], to: 'rolled_back', reason: `rollout rolled back: ${why}` }, at);
  const next = await transition(id, 'rolled_back', 'roll back', now, {
    change: (r) => ({ status_reason: why, completed_at: at, batches: stopUnfinishedBatches(r.batches, at), sweep }),
    event: { type: 'image.rollout_rolled_back', details: (r) => ({ reason: why, rolled_back_from: r.status }) },
  });
  const deadline = Date.now() + rollbackAllBudgetMs;
  let rolledBack = 0;
  let failed = 0;
  const leftover: RevertCommand[] = [];
  for (let command of sweepCommands(next)) {
    for (;;) {
      if (Date.now() > deadline) {
        leftover.push(command);
        break;
      }
      const { counts, next: more } = await revertPage(command, now, 100);
      rolledBack += counts.rolled_back;
      failed += counts.failed;
      if (!more) break;
      command = more;
    }
  }
  if (leftover.length > 0) await sendRevertCommands(leftover);
  return { rollout: next, devices_rolled_back: rolledBack, devices_failed: failed, finishing_in_background: leftover.length > 0 };
}

export async function rollbackDevice(id: string, uuid: string, reason: string | undefined, now: Date): Promise<z.infer<typeof deviceRollbackResultSchema>> {
  const rollout = await readRollout(id);
  if (rollout.status === 'pending') throw new Conflict(`rollout ${id} has not started; no device has updated`);
  const rows = rollout.shard_count > 0 ? await findRolloutDevice(rollout.id, shardOf(uuid, rollout.shard_count), uuid) : [];
  if (rows.length === 0) throw new NotFound(`device ${uuid} is not part of rollout ${id}`);
  const why = reason ?? 'rolled back by an admin';
  const results = [];
  for (const row of rows) {
    const refused = deviceRollbackRefusal(id, uuid, row.status);
    if (refused) throw new Conflict(refused);
    const { outcome, toImage } = await revertDevice(rollout, row, batchOf(rollout, row.seq), 'rolled_back', why, now);
    results.push({ app: row.app, from_image: row.new_image, to_image: toImage, outcome });
  }
  await sendOrchestration({ type: 'evaluate', rollout_id: id, reason: 'device rolled back' }, `device-rollback-${uuid}-${now.toISOString()}`);
  return { rollout_id: id, device_uuid: uuid, status: 'rolled_back', apps: results };
}

/**
 * A newer push of a repository supersedes the rollouts of that repository still under way: when
 * a rollout starts, pending, in-progress or paused rollouts of older pushes of the repository
 * are cancelled and hand their devices over, so two rollouts never fight over a device's target.
 * Pushes are ordered by push time, not by arrival: if a newer push's rollout has already started
 * (whether under way or ended since: completed, cancelled, rolled back), this one is the
 * superseded one. True when it is.
 */
export async function supersedeOlderRollouts(rollout: Rollout, now: Date): Promise<boolean> {
  const repository = normaliseRepository(rollout.repository);
  const newerRank = await recordStartedPush(repository, rolloutRank(rollout));
  if (newerRank) {
    const newer = await getRollout(rolloutIdOfRank(newerRank));
    try {
      await cancelRollout(rollout.id, `superseded by rollout ${newer?.id ?? rolloutIdOfRank(newerRank)}${newer ? ` (${newer.image})` : ''}`, now, newer);
      logger.info('rollout superseded', { rollout_id: rollout.id, superseded_by: newer?.id });
    } catch (error) {
      if (!(error instanceof Conflict)) throw error;
    }
    return true;
  }
  for (const status of activeRolloutStatuses) {
    for await (const other of rolloutsWithStatus(status)) {
      if (other.id === rollout.id || normaliseRepository(other.repository) !== repository) continue;
      const [older, newer] = isNewerPush(rollout, other) ? [other, rollout] : [rollout, other];
      try {
        await cancelRollout(older.id, `superseded by rollout ${newer.id} (${newer.image})`, now, newer);
        logger.info('rollout superseded', { rollout_id: older.id, superseded_by: newer.id });
      } catch (error) {
        // It ended by itself meanwhile: nothing to supersede.
        if (!(error instanceof Conflict)) throw error;
      }
      if (older.id === rollout.id) return true;
    }
  }
  return false;
}
