/**
 * Planning: record the rollout's devices a page at a time, each with a sequence number, then fix
 * the batches. State lives on the rollout (how many are recorded, where the next page starts), so
 * a repeated or lost command only ever resumes where the rollout says planning stands.
 *
 * Only devices whose labels match the policy's `device_selector` are recorded. With a
 * `batch_order`, planning goes over the repository's devices once per group (the group under way
 * is kept in `planning.group` too), each pass recording only the devices whose first matching
 * entry is the pass's (the last pass: those matching none). Sequence numbers then follow the
 * groups, and batches, cut by sequence number, take the first groups first. Without one, there is
 * one pass, as there always was.
 */
import { effectivePercentages, planBatches, shardCountFor } from '../domain/batch-plan';
import { batchGroupOf, matchesSelector } from '../domain/labels';
import { rolloutRank } from '../domain/push-order';
import type { Rollout, RolloutDevice } from '../domain/types';
import { logger } from '../logger';
import { noDeadline, type Budget } from '../queues/budget';
import { sendOrchestration, sendWakeUp } from '../queues/messages';
import { startGate } from '../domain/rollout-control';
import { normaliseRepository } from '../registry';
import { countRepositoryMembers, getDevicesByUuid, listRepositoryMembers } from '../store/devices';
import { shardOf } from '../store/keys';
import { deleteRowsFrom, putRolloutDevices } from '../store/rollout-devices';
import { getRollout, saveRollout } from '../store/rollouts';
import { startedEvent } from './rollout-events';
import { supersedeOlderRollouts } from './control';
import { now as clockNow } from '../clock';

const pageSize = 200;

/**
 * Records pages of devices from `seq` on for as long as the invocation's budget allows, then asks
 * for the next page with a new message. Returns the rollout as last saved, or undefined when there
 * was nothing to do. A crash between pages loses the message; the tick asks again.
 */
export async function planPages(rolloutId: string, seq: number, now: Date, budget: Budget = noDeadline): Promise<Rollout | undefined> {
  let planned: Rollout | undefined;
  let slowest = 0;
  for (let next = seq; ; ) {
    const started = Date.now();
    const page = await planNextPage(rolloutId, next, next === seq ? now : clockNow());
    if (!page) return planned;
    planned = page;
    slowest = Math.max(slowest, Date.now() - started);
    if (page.planning.done) return page;
    next = page.planning.assigned;
    if (!budget.allowsPageOf(slowest)) {
      await sendOrchestration({ type: 'plan', rollout_id: rolloutId, seq: next });
      return page;
    }
  }
}

/** Records the next page of devices; returns the rollout as saved, or undefined when there was nothing to do. */
async function planNextPage(rolloutId: string, seq: number, now: Date): Promise<Rollout | undefined> {
  const rollout = await getRollout(rolloutId);
  if (!rollout || rollout.planning.done || rollout.status !== 'pending') return undefined;
  if (seq !== rollout.planning.assigned) {
    // An earlier delivery of this command got further than this one: make sure the next page is asked for.
    if (seq < rollout.planning.assigned) await sendOrchestration({ type: 'plan', rollout_id: rolloutId, seq: rollout.planning.assigned });
    return undefined;
  }

  const repository = normaliseRepository(rollout.repository);
  const shardCount = rollout.shard_count || shardCountFor(await countRepositoryMembers(repository));
  const page = await listRepositoryMembers(repository, pageSize, rollout.planning.next_key);
  const devices = new Map((await getDevicesByUuid([...new Set(page.members.map((m) => m.device_uuid))])).map((d) => [d.uuid, d]));
  const at = now.toISOString();
  const rank = rolloutRank(rollout);
  const selector = rollout.policy.device_selector ?? {};
  const order = rollout.policy.batch_order ?? [];
  const group = rollout.planning.group ?? 0;
  const rows: RolloutDevice[] = [];
  for (const member of page.members) {
    const device = devices.get(member.device_uuid);
    const app = device?.target_apps.find((a) => a.name === member.app);
    // A device already on the pushed digest has nothing to pull; under a tag alone (no digest) it
    // may run older content of the same tag, so it is moved again and pulls the tag anew.
    if (!device || !app || (rollout.digest !== undefined && app.image === rollout.image)) continue;
    if (normaliseRepository(app.image) !== repository) continue;
    // A newer push's rollout has moved this app already (its webhook came first): it stays there.
    const setBy = device.target_set_by?.[app.name];
    if (setBy !== undefined && setBy > rank) continue;
    if (!matchesSelector(device.labels, selector)) continue;
    // Labels are read as each pass reaches the device: one relabelled between two passes may be
    // recorded in both (its second row is skipped when scheduled, see device-transitions.ts) or in neither.
    if (order.length > 0 && batchGroupOf(device.labels, order) !== group) continue;
    const seqNumber = rollout.planning.assigned + rows.length;
    rows.push({
      rollout_id: rollout.id,
      device_uuid: device.uuid,
      device_name: device.name,
      app: app.name,
      seq: seqNumber,
      shard: shardOf(device.uuid, shardCount),
      batch: null,
      status: 'pending',
      previous_image: app.image,
      new_image: rollout.image,
      updated_at: at,
    });
  }
  await putRolloutDevices(rows);

  const assigned = rollout.planning.assigned + rows.length;
  const passDone = page.lastKey === undefined;
  const done = passDone && group >= order.length;
  const nextGroup = passDone && !done ? group + 1 : group;
  const next: Rollout = {
    ...rollout,
    shard_count: shardCount,
    planning: { done, assigned, ...(page.lastKey ? { next_key: page.lastKey } : {}), ...(order.length > 0 ? { group: nextGroup } : {}) },
    version: rollout.version + 1,
    updated_at: at,
  };
  if (done) {
    next.total_devices = assigned;
    next.batches = planBatches(assigned, effectivePercentages(rollout.policy));
    const gate = startGate(next, now);
    if (gate.ready) {
      next.status = 'in_progress';
      next.started_at = at;
      delete next.status_reason;
    } else {
      next.status_reason = gate.reason;
      if (gate.until) next.wake_requested_for = gate.until;
    }
  }
  if (done) {
    for (let shard = 0; shard < shardCount; shard++) {
      const dropped = await deleteRowsFrom(rolloutId, shard, assigned);
      if (dropped > 0) logger.info('dropped rows an interrupted planning attempt left', { rollout_id: rolloutId, shard, dropped });
    }
  }
  const starting = done && next.status === 'in_progress';
  if (!(await saveRollout(next, starting ? [startedEvent(next)] : []))) throw new Error(`rollout ${rolloutId} changed while planning; retrying`);

  if (done) {
    logger.info('rollout planned', { rollout_id: rolloutId, devices: assigned, batches: next.batches.length });
    // Repeated by the first batch's start if a crash comes first.
    if (starting) await supersedeOlderRollouts(next, now);
    // A start (or an approval deadline) due later: the tick looks too, should this be lost.
    else if (next.wake_requested_for) await sendWakeUp(rolloutId, next.wake_requested_for, now);
  }
  return next;
}
