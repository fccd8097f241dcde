/** What admins read about rollouts: the rollout with its batches' progress, devices, events, statistics. */
import { batchContaining } from '../domain/batch-plan';
import { addCounts, emptyCounts, totalOf } from '../domain/rollout-progress';
import { activeRolloutStatuses, type Rollout, type RolloutDevice, type StatusCounts } from '../domain/types';
import { NotFound } from '../errors';
import { listEvents } from '../store/events';
import { getAllBatchCounts, listRolloutDevices } from '../store/rollout-devices';
import { getRollout, listRollouts, type RolloutFilter } from '../store/rollouts';
import { decodeCursor, encodeCursor } from '../store/table';

export async function readRollout(id: string): Promise<Rollout> {
  const rollout = await getRollout(id);
  if (!rollout) throw new NotFound(`rollout ${id} not found`);
  return rollout;
}

function rolloutView(rollout: Rollout, countsByBatch: Map<number, StatusCounts>) {
  // wake_requested_for is batch-advance's bookkeeping, not part of the API.
  const { planning, version, wake_requested_for: _wake, ...rest } = rollout;
  return {
    ...rest,
    planned: planning.done,
    batches: rollout.batches.map((batch) => {
      const counts = countsByBatch.get(batch.number) ?? emptyCounts();
      return { ...batch, counts: { ...counts, pending: Math.max(0, batch.size - totalOf(counts)) } };
    }),
  };
}

export function statisticsOf(rollout: Rollout, countsByBatch: Map<number, StatusCounts>) {
  let counts = emptyCounts();
  for (const batchCounts of countsByBatch.values()) counts = addCounts(counts, batchCounts);
  const reached = totalOf(counts);
  const processed = counts.updated + counts.healthy + counts.unhealthy + counts.failed + counts.rolled_back;
  return {
    total_devices: rollout.total_devices,
    ...counts,
    pending: Math.max(0, rollout.total_devices - reached),
    current_batch: rollout.current_batch,
    total_batches: rollout.batches.length,
    progress_percent: rollout.total_devices === 0 ? (rollout.planning.done ? 100 : 0) : Math.round((1000 * processed) / rollout.total_devices) / 10,
    failure_rate: processed === 0 ? 0 : Math.round((10000 * (counts.failed + counts.rolled_back)) / processed) / 10000,
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
    devices_next_cursor: devices.next ? encodeCursor(devices.next) : null,
    events: events.events,
    statistics: statisticsOf(rollout, counts),
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
        return { ...rolloutView(rollout, counts), statistics: statisticsOf(rollout, counts) };
      }),
    ),
    next_cursor: page.next_cursor,
  };
}

export async function rolloutEvents(id: string, limit: number, cursor?: string) {
  const rollout = await readRollout(id);
  const page = await listEvents(rollout.id, Math.max(1, rollout.shard_count), limit, cursor ? { after: cursor } : {});
  return { events: page.events, next_cursor: page.next_cursor };
}

/** A page of the rollout's devices, grouped by the batch each belongs to. */
export async function rolloutDevicesByBatch(id: string, limit: number, cursor?: string) {
  const rollout = await readRollout(id);
  const position = decodeCursor<{ shard: number; key?: Record<string, unknown> }>(cursor);
  const page = await listRolloutDevices(rollout.id, rollout.shard_count, limit, position);
  const groups = rollout.batches.map((batch) => ({ number: batch.number, status: batch.status, devices: [] as ReturnType<typeof deviceView>[] }));
  for (const row of page.devices) {
    const batch = batchContaining(rollout.batches, row.seq);
    if (batch) groups[batch.number - 1]!.devices.push({ ...deviceView(row), batch: batch.number });
  }
  return { batches: groups.filter((g) => g.devices.length > 0), next_cursor: page.next ? encodeCursor(page.next) : null };
}

/** Rollouts that are not finished: pending, in progress or paused, newest first. */
export async function activeRollouts(limit: number) {
  const pages = await Promise.all(activeRolloutStatuses.map((status) => rolloutSummaries({ status }, limit)));
  const rollouts = pages.flatMap((p) => p.rollouts).sort((a, b) => b.created_at.localeCompare(a.created_at));
  return { rollouts: rollouts.slice(0, limit), next_cursor: null };
}

