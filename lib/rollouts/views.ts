/** What admins read about rollouts: the rollout with its batches' progress, devices, events, statistics. */
import { batchContaining } from '../domain/batch-plan';
import { emptyCounts, rolloutStatistics, totalOf } from '../domain/rollout-progress';
import { activeRolloutStatuses, type BatchCounts, type Rollout, type RolloutDevice } from '../domain/types';
import { NotFound } from '../errors';
import { listEvents } from '../store/events';
import { getAllBatchCounts, listRolloutDevices } from '../store/rollout-devices';
import { getRollout, listRollouts, type RolloutFilter } from '../store/rollouts';

export async function readRollout(id: string): Promise<Rollout> {
  const rollout = await getRollout(id);
  if (!rollout) throw new NotFound(`rollout ${id} not found`);
  return rollout;
}

function rolloutView(rollout: Rollout, countsByBatch: Map<number, BatchCounts>) {
  // wake_requested_for is batch-advance's bookkeeping, not part of the API.
  const { planning, version, wake_requested_for: _wake, ...rest } = rollout;
  return {
    ...rest,
    planned: planning.done,
    batches: rollout.batches.map((batch) => {
      const { failures, ...counts } = countsByBatch.get(batch.number) ?? emptyCounts();
      return { ...batch, counts: { ...counts, pending: Math.max(0, batch.size - totalOf(counts)) }, failures };
    }),
  };
}

export async function rolloutDetail(id: string) {
  const rollout = await readRollout(id);
  const counts = await getAllBatchCounts(rollout.id, rollout.shard_count);
  const [devices, events] = await Promise.all([
    listRolloutDevices(rollout.id, rollout.shard_count, 100),
    listEvents(rollout.id, Math.max(1, rollout.shard_count), 20, { newestFirst: true }),
  ]);
  return {
    rollout: rolloutView(rollout, counts),
    devices: devices.devices.map(deviceView),
    devices_next_cursor: devices.next_cursor,
    events: events.events,
    statistics: rolloutStatistics(rollout, counts),
  };
}

function deviceView(row: RolloutDevice) {
  const { shard, seq, ...rest } = row;
  return rest;
}

export async function rolloutSummaries(filter: RolloutFilter, limit: number, cursor?: string) {
  const page = await listRollouts(filter, limit, cursor);
  return {
    rollouts: await Promise.all(
      page.items.map(async (rollout) => {
        const counts = await getAllBatchCounts(rollout.id, rollout.shard_count);
        return { ...rolloutView(rollout, counts), statistics: rolloutStatistics(rollout, counts) };
      }),
    ),
    next_cursor: page.next_cursor,
  };
}

export async function rolloutEvents(id: string, limit: number, cursor?: string) {
  const rollout = await readRollout(id);
  const page = await listEvents(rollout.id, Math.max(1, rollout.shard_count), limit, cursor ? { cursor } : {});
  return { events: page.events, next_cursor: page.next_cursor };
}

/** A page of the rollout's devices, grouped by the batch each belongs to. */
export async function rolloutDevicesByBatch(id: string, limit: number, cursor?: string) {
  const rollout = await readRollout(id);
  const page = await listRolloutDevices(rollout.id, rollout.shard_count, limit, cursor);
  const groups = rollout.batches.map((batch) => ({ number: batch.number, status: batch.status, devices: [] as ReturnType<typeof deviceView>[] }));
  for (const row of page.devices) {
    const batch = batchContaining(rollout.batches, row.seq);
    if (batch) groups[batch.number - 1]!.devices.push({ ...deviceView(row), batch: batch.number });
  }
  return { batches: groups.filter((g) => g.devices.length > 0), next_cursor: page.next_cursor };
}

/** Rollouts that are not finished: pending, in progress or paused, newest first. */
export async function activeRollouts(limit: number) {
  const pages = await Promise.all(activeRolloutStatuses.map((status) => rolloutSummaries({ status }, limit)));
  const rollouts = pages.flatMap((p) => p.rollouts).sort((a, b) => b.created_at.localeCompare(a.created_at));
  return { rollouts: rollouts.slice(0, limit), next_cursor: null };
}

