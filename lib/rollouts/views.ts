/** What admins read about rollouts: the rollout with its batches' progress, devices, events, statistics. */
import { z } from 'zod';
import { rolloutEventSchema } from './event-schema';
import { batchContaining, devicesIn } from '../domain/batch-plan';
import { pacingOf, unavailableIn, waitingIn } from '../domain/pacing';
import { emptyCounts, rolloutStatistics, totalOf } from '../domain/rollout-progress';
import { activeRolloutStatuses, deviceRolloutStatuses, rolloutStatuses, type BatchCounts, type Rollout, type RolloutDevice } from '../domain/types';
import { NotFound } from '../errors';
import { policySettingsSchema, storedPolicySettingsSchema, withDefaults } from '../policies';
import { listEvents } from '../store/events';
import { getAllBatchCounts, listRolloutDevices } from '../store/rollout-devices';
import { getRollout, listRollouts, type RolloutFilter } from '../store/rollouts';

/** `GET /rollouts`' filters, beside the paging parameters. */
export const rolloutListQuerySchema = z.strictObject({
  status: z.enum(rolloutStatuses).optional(),
  image_name: z.string().min(1).max(512).optional(),
  limit: z.string().optional(),
  cursor: z.string().optional(),
});

const count = z.number().int();
const statusCountsSchema = z.object(Object.fromEntries(deviceRolloutStatuses.map((status) => [status, count])) as Record<(typeof deviceRolloutStatuses)[number], typeof count>);

const batchSchema = z.object({
  number: z.number().int(),
  percentage: z.number(),
  /** Devices planned into the batch. */
  size: z.number().int(),
  first_seq: z.number().int(),
  /** Devices that joined the batch after planning (registered or newly matching while the rollout was under way). */
  joined_devices: z.number().int().optional(),
  status: z.enum(['pending', 'in_progress', 'completed', 'stopped']),
  started_at: z.string().optional(),
  deadline_at: z.string().optional(),
  schedule_requested_at: z.string().optional(),
  resumed_at: z.string().optional(),
  recounted_at: z.string().optional(),
  health_checks_requested_at: z.string().optional(),
  rollbacks_requested_at: z.string().optional(),
  retry_rounds: z.number().int().optional(),
  completed_at: z.string().optional(),
  stopped_at: z.string().optional(),
});

/** A rollout as stored; the API answers with its view (`rolloutViewSchema`). */
export const rolloutSchema = z.object({
  id: z.string(),
  policy_id: z.string(),
  registry: z.string(),
  repository: z.string(),
  tag: z.string(),
  digest: z.string().optional(),
  image: z.string(),
  pushed_at: z.string(),
  delivery_id: z.string(),
  status: z.enum(rolloutStatuses),
  status_reason: z.string().optional(),
  policy: storedPolicySettingsSchema,
  batches: z.array(batchSchema),
  current_batch: z.number().int(),
  next_batch_due_at: z.string().optional(),
  wake_requested_for: z.string().optional(),
  planning: z.object({ done: z.boolean(), assigned: z.number().int(), next_key: z.record(z.string(), z.unknown()).optional(), group: z.number().int().optional() }),
  start_requested_at: z.string().optional(),
  /** When an admin scheduled the rollout to start. */
  start_at: z.string().optional(),
  /** The next batch waits for a maintenance window, which opens then. */
  next_window_at: z.string().optional(),
  /** The approvals given so far: for the start (`after_batch` 0) and for going on after a batch. */
  approvals: z.array(z.object({ key_id: z.string(), name: z.string(), at: z.string(), comment: z.string().optional(), after_batch: z.number().int() })).optional(),
  /** The start's approvals are due by then, or the rollout is cancelled. */
  approval_deadline_at: z.string().optional(),
  /** Paused after this batch until approved. */
  awaiting_approval: z.object({ after_batch: z.number().int() }).optional(),
  /** An admin fast-forwarded the rollout. */
  promotion: z.object({ reason: z.string(), full: z.boolean(), at: z.string(), by: z.string().optional() }).optional(),
  sweep: z
    .object({
      from: z.array(z.enum(deviceRolloutStatuses)),
      to: z.enum(['rolled_back', 'skipped']),
      reason: z.string(),
      hand_over: z.boolean().optional(),
      requested_at: z.string(),
    })
    .optional(),
  total_devices: z.number().int(),
  shard_count: z.number().int(),
  version: z.number().int(),
  created_at: z.string(),
  updated_at: z.string(),
  started_at: z.string().optional(),
  completed_at: z.string().optional(),
});

/** A rollout as reads show it: each batch with its devices counted by status, no bookkeeping. */
export const rolloutViewSchema = rolloutSchema.omit({ planning: true, version: true, wake_requested_for: true }).extend({
  policy: policySettingsSchema,
  planned: z.boolean(),
  batches: z.array(batchSchema.extend({ counts: statusCountsSchema, failures: count })),
  /**
   * A paced rollout's batch under way: its devices not yet given the new image (`waiting`, held
   * back by the rate or the budget) and the rollout's devices unavailable now, against
   * `max_unavailable`; from the counters, so a second or so behind. Null otherwise.
   */
  pacing: z.object({ waiting: count, unavailable: count }).nullable(),
});
export type RolloutView = z.infer<typeof rolloutViewSchema>;

export const rolloutStatisticsSchema = statusCountsSchema.extend({
  total_devices: count,
  failures: count,
  current_batch: count,
  total_batches: count,
  progress_percent: z.number(),
  failure_rate: z.number(),
});

export const rolloutDeviceViewSchema = z.object({
  rollout_id: z.string(),
  device_uuid: z.string(),
  device_name: z.string(),
  app: z.string(),
  batch: z.number().int().nullable(),
  status: z.enum(deviceRolloutStatuses),
  previous_image: z.string(),
  previous_digest: z.string().optional(),
  new_image: z.string(),
  error: z.string().optional(),
  failed_at: z.string().optional(),
  rollback_reason: z.string().optional(),
  scheduled_at: z.string().optional(),
  /** How many times the device has been given the new image (more than 1 after `retry_failed` retries). */
  attempts: z.number().int(),
  /** The error of its last failed attempt, once it has been retried. */
  last_error: z.string().optional(),
  updated_at: z.string(),
});
type RolloutDeviceView = z.infer<typeof rolloutDeviceViewSchema>;

const cursor = z.string().nullable();
export const rolloutDetailSchema = z.object({
  rollout: rolloutViewSchema,
  /** The first devices; the rest through `GET /rollouts/{rolloutId}/devices`. */
  devices: z.array(rolloutDeviceViewSchema),
  devices_next_cursor: cursor,
  /** The newest events; the whole log through `GET /rollouts/{rolloutId}/events`. */
  events: z.array(rolloutEventSchema),
  statistics: rolloutStatisticsSchema,
});
export const rolloutListSchema = z.object({ rollouts: z.array(rolloutViewSchema.extend({ statistics: rolloutStatisticsSchema })), next_cursor: cursor });
export const rolloutEventsPageSchema = z.object({ events: z.array(rolloutEventSchema), next_cursor: cursor });
export const rolloutDevicesByBatchSchema = z.object({
  batches: z.array(z.object({ number: count, status: batchSchema.shape.status, devices: z.array(rolloutDeviceViewSchema) })),
  next_cursor: cursor,
});

export async function readRollout(id: string): Promise<Rollout> {
  const rollout = await getRollout(id);
  if (!rollout) throw new NotFound(`rollout ${id} not found`);
  return rollout;
}

function rolloutView(rollout: Rollout, countsByBatch: Map<number, BatchCounts>): RolloutView {
  // wake_requested_for is batch-advance's bookkeeping, not part of the API.
  const { planning, version, wake_requested_for: _wake, ...rest } = rollout;
  const current = rollout.batches[rollout.current_batch - 1];
  const paced = pacingOf(rollout.policy) && current?.status === 'in_progress' && rollout.status !== 'pending';
  return {
    ...rest,
    policy: withDefaults(rollout.policy),
    planned: planning.done,
    batches: rollout.batches.map((batch) => {
      const { failures, ...counts } = countsByBatch.get(batch.number) ?? emptyCounts();
      return { ...batch, counts: { ...counts, pending: Math.max(0, devicesIn(batch) - totalOf(counts)) }, failures };
    }),
    pacing: paced ? { waiting: waitingIn(current, countsByBatch.get(current.number)), unavailable: unavailableIn(countsByBatch) } : null,
  };
}

/** A rollout as the API answers it, its batches' counts read now: what a control command answers. */
export async function currentRolloutView(rollout: Rollout): Promise<RolloutView> {
  return rolloutView(rollout, await getAllBatchCounts(rollout.id, rollout.shard_count));
}

export async function rolloutDetail(id: string): Promise<z.infer<typeof rolloutDetailSchema>> {
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

function deviceView(row: RolloutDevice): RolloutDeviceView {
  const { shard, seq, ...rest } = row;
  return { ...rest, attempts: row.attempts ?? 1 };
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
  const groups = rollout.batches.map((batch) => ({ number: batch.number, status: batch.status, devices: [] as RolloutDeviceView[] }));
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

