/**
 * The loop every per-shard fan-out of a batch shares (schedules, health checks): the batch's rows
 * in one shard, a page at a time, within the invocation's time.
 */
import type { Batch, Rollout, RolloutDevice } from '../domain/types';
import { workPages, type Budget } from '../queues/budget';
import { seqRangesOf } from '../domain/batch-plan';
import { queryRowsInRanges } from '../store/rollout-devices';
import { getRollout } from '../store/rollouts';
import { now as clockNow } from '../clock';

/**
 * Works a batch's rows in one shard a page at a time for as long as the invocation's budget
 * allows. Each page after the first looks at the rollout again, `current` saying whether it still
 * wants the work (a pause or cancel stops it), and is timed on its own. Returns whether the work
 * ran to the end of the shard, or where to go on.
 */
export async function workBatchShard<T extends { rollout: Rollout; batch: Batch }>(
  command: { rollout_id: string; batch: number; shard: number; start_key?: Record<string, unknown> },
  current: (rollout: Rollout | undefined, batch: number) => T | undefined,
  pageSize: number,
  now: Date,
  budget: Budget,
  work: (state: T, rows: RolloutDevice[], now: Date) => Promise<void>,
): Promise<{ done: boolean; startKey?: Record<string, unknown> }> {
  const first = current(await getRollout(command.rollout_id), command.batch);
  if (!first) return { done: false };
  const { rollout, batch } = first;
  let pages = 0;
  const rest = await workPages(
    budget,
    command.start_key,
    (startKey) => queryRowsInRanges(rollout.id, command.shard, seqRangesOf(batch), pageSize, startKey),
    async (rows) => {
      const later = pages++ > 0;
      const state = later ? current(await getRollout(rollout.id), command.batch) : first;
      if (!state) return false;
      await work(state, rows, later ? clockNow() : now);
      return true;
    },
  );
  return { done: !rest.stopped && !rest.startKey, ...(rest.startKey ? { startKey: rest.startKey } : {}) };
}

