/**
 * Admin commands on a rollout. Each checks the transition against the rules (409 saying why when
 * it is not allowed), writes it conditioned on the version it read, records the event, and hands
 * follow-up work to the queues. Device work is never done under the rollout's version: it is
 * idempotent on its own, so a retry of the command finishes it.
 */
import { z } from 'zod';
import { deviceRollbackRefusal, resumeRefusal, revertedOnCancel, revertedOnRollbackAll, startRefusal } from '../domain/rollout-control';
import { batchDeadline } from '../domain/pacing';
import { transitionRefusal } from '../domain/rollout-progress';
import { stopUnfinishedBatches } from '../domain/batch-plan';
import { isNewerPush, rolloutIdOfRank, rolloutRank } from '../domain/push-order';
import { activeRolloutStatuses, type EventType, type Rollout, type RolloutStatus } from '../domain/types';
import { Conflict, NotFound } from '../errors';
import { logger } from '../logger';
import { sendOrchestration, sendRevertCommands, type RevertCommand } from '../queues/messages';
import { normaliseRepository } from '../registry';
import { shardOf } from '../store/keys';
import { findRolloutDevice } from '../store/rollout-devices';
import { getRollout, newestStartedPush, recordStartedPush, rolloutsWithStatus, saveRollout } from '../store/rollouts';
import { fanOutTargets } from './device-transitions';
import { startedDetails } from './rollout-events';
import { batchOf, endingSweep, revertDevice, revertPage, sweepCommands } from './rollbacks';
import { readRollout, rolloutSchema } from './views';

/** The body of pause, cancel, rollback-all and a device's rollback: why, for the event log. */
export const controlReasonSchema = z.strictObject({ reason: z.string().trim().min(1).max(500).optional() });

export const rolloutResponseSchema = z.object({ rollout: rolloutSchema });
/** `202` of a start that came while the rollout was still being planned: it starts once planned. */
export const startRequestedSchema = z.object({ rollout: rolloutSchema, message: z.string() });
export const rollbackAllResultSchema = z.object({
  rollout: rolloutSchema,
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

/**
 * Starts a manual rollout. One still being planned is marked to start, and planning starts it
 * as soon as it has recorded every device (`started: false` then).
 */
export async function startRollout(id: string, now: Date): Promise<{ rollout: Rollout; started: boolean }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const rollout = await readRollout(id);
    const refused = startRefusal(rollout);
    if (refused) throw new Conflict(refused);
    if (rollout.planning.done) break;
    if (rollout.start_requested_at) return { rollout, started: false };
    const marked: Rollout = { ...rollout, start_requested_at: now.toISOString(), version: rollout.version + 1, updated_at: now.toISOString() };
    if (await saveRollout(marked)) return { rollout: marked, started: false };
  }
  const planned = await readRollout(id);
  const newer = await newestStartedPush(normaliseRepository(planned.repository));
  if (newer && newer > rolloutRank(planned)) {
    throw new Conflict(`cannot start rollout ${id}: a newer push of ${planned.repository} has started rollout ${rolloutIdOfRank(newer)}; starting this one would move devices back to an older image`);
  }
  const next = await transition(id, 'in_progress', 'start', now, {
    change: () => ({ started_at: now.toISOString() }),
    extraCheck: startRefusal,
    event: { type: 'image.rollout_started', details: startedDetails },
  });
  // A newer push started meanwhile: this one is cancelled, and says so.
  if (await supersedeOlderRollouts(next, now)) return { rollout: await readRollout(id), started: true };
  await sendOrchestration({ type: 'evaluate', rollout_id: id, reason: 'started by admin' }, `start-${next.started_at ?? now.toISOString()}`);
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
      const batches = r.batches.map((b) => (b.number === r.current_batch && b.status === 'in_progress' ? { ...b, deadline_at: batchDeadline(now, r.policy, b.size), resumed_at } : b));
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

/**
 * Cancels a rollout. Devices not yet updated keep (or get back) the image they ran: the rollout
 * will not reach them. When a newer push supersedes it (`supersededBy`), they are handed over
 * instead: their targets stay, and the newer rollout moves them on from there.
 */
export async function cancelRollout(id: string, reason: string | undefined, now: Date, supersededBy?: Rollout): Promise<Rollout> {
  const why = reason ?? 'cancelled by an admin';
  const at = now.toISOString();
  const handOver = supersededBy !== undefined;
  const sweep = endingSweep({ from: [...revertedOnCancel], to: 'skipped', reason: `rollout cancelled: ${why}`, ...(handOver ? { hand_over: true } : {}) }, at);
  const next = await transition(id, 'cancelled', 'cancel', now, {
    change: (r) => ({ status_reason: why, completed_at: at, batches: stopUnfinishedBatches(r.batches, at), sweep }),
    event: { type: 'image.rollout_cancelled', details: () => ({ reason: why, ...(supersededBy ? { superseded_by: supersededBy.id } : {}) }) },
  });
  await sendRevertCommands(sweepCommands(next));
  return next;
}

/** How long rollback-all works inside the request before handing the rest to the rollback queue. */
const rollbackAllBudgetMs = 8_000;

export async function rollbackAll(id: string, reason: string | undefined, now: Date): Promise<z.infer<typeof rollbackAllResultSchema>> {
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
    const outcome = await revertDevice(rollout, row, batchOf(rollout, row.seq), 'rolled_back', why, now);
    results.push({ app: row.app, from_image: row.new_image, to_image: row.previous_image, outcome });
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
