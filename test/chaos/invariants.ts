/**
 * The invariant checker of the chaos run: reads the whole table (a scan: a test tool may, the
 * product never does) and the engine-side truth (what each simulated device's engine runs), and
 * lists every breach of DESIGN §6 that a final state can show. It reads the items as stored,
 * not through the product's own readers, so a bug in a reader cannot hide a bug in a writer.
 *
 * Checked: 1 one rollout per push, its copies agreeing on one push (the delivery's claim), no
 * fact recorded twice; 2 every device of an ended rollout in a final status, none lost; 3 after
 * rollback-all no device targets the new image, a device rolled back no longer targets it, and
 * every rollback an admin was told succeeded did; 4 a paused or
 * cancelled rollout schedules no further device (from its log); 5 batch counters equal their
 * rows; 8 every device on the image its history says (the newest push's, or the one it was
 * rolled back to), a completed rollout's devices on its image, and each engine running its
 * target; 9 every state change has its event. (6 and 7, input and credentials, are the route
 * tests' and the fuzzer's.)
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { rolloutRank } from '../../lib/domain/push-order';
import { countsAsFailure } from '../../lib/domain/rollout-progress';
import { deviceRolloutStatuses, type Device, type Rollout, type RolloutDevice, type RolloutEvent } from '../../lib/domain/types';
import { normaliseRepository } from '../../lib/registry';
import type { PushOutcome } from '../../lib/rollouts/create-rollouts';
import type { Delivery } from '../../lib/store/deliveries';

/** What one simulated device's engine runs, by app name. */
export type EngineTruth = Map<string, Map<string, string>>;

/** A push the run sent, and the rollout ids its copies were answered with. */
export interface SentPush {
  repository: string;
  tag: string;
  /** Answers of every copy of this one notification (concurrent copies and retries). */
  answeredRolloutIds: string[];
}

export interface AdminAction {
  action: 'pause' | 'resume' | 'cancel' | 'rollback-all' | 'rollback-device';
  rolloutId: string;
  /** The device of a rollback-device. */
  deviceUuid?: string;
  /** What a rollback-device answered for each app of the device. */
  outcomes?: string[];
  status: number;
  /** When the answer arrived: the change was written by then (this machine's clock, as the host's). */
  answeredAt: string;
}

export interface Table {
  rollouts: Map<string, Rollout & { outbox?: unknown[] }>;
  rows: Map<string, RolloutDevice[]>;
  counters: { rolloutId: string; shard: number; batch: number; item: Record<string, unknown> }[];
  events: Map<string, RolloutEvent[]>;
  devices: Map<string, Device>;
  /** Webhook deliveries as claimed, by `<registry>|<delivery id>`. */
  deliveries: Map<string, Delivery<PushOutcome>>;
}

export async function readTable(endpoint: string, tableName: string): Promise<Table> {
  const client = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'embedded', secretAccessKey: 'embedded' } }));
  const table: Table = { rollouts: new Map(), rows: new Map(), counters: [], events: new Map(), devices: new Map(), deliveries: new Map() };
  const push = <T>(map: Map<string, T[]>, key: string, value: T) => map.set(key, [...(map.get(key) ?? []), value]);
  const eventIds = new Set<string>();
  let startKey: Record<string, unknown> | undefined;
  try {
    do {
      const page = await client.send(new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: startKey }));
      for (const item of page.Items ?? []) {
        const pk = String(item.pk);
        const sk = String(item.sk);
        const shardKey = /^ROLLOUT#(.+)#S#(\d+)$/.exec(pk);
        if (pk.startsWith('ROLLOUT#') && sk === 'ROLLOUT') table.rollouts.set(String(item.id), item as any);
        else if (pk.startsWith('DEVICE#') && sk === 'DEVICE') table.devices.set(String(item.uuid), item as any);
        else if (pk.startsWith('DELIVERY#') && sk === 'DELIVERY') table.deliveries.set(`${String(item.registry)}|${String(item.delivery_id)}`, item as any);
        else if (shardKey && /^DEVICE#\d{9}$/.test(sk)) push(table.rows, shardKey[1]!, item as any);
        // A pack holds the facts of one page of devices (lib/store/events.ts); a fact in two packs
        // (two checks racing) is one fact, as the listing shows it.
        else if (shardKey && sk.startsWith('EVENT#')) {
          for (const event of Array.isArray(item.pack) ? item.pack : [item]) {
            const id = `${shardKey[1]}|${String(event.id)}`;
            if (eventIds.has(id)) continue;
            eventIds.add(id);
            push(table.events, shardKey[1]!, event as any);
          }
        }
        else if (shardKey && sk.startsWith('BATCH#')) table.counters.push({ rolloutId: shardKey[1]!, shard: Number(shardKey[2]), batch: Number(sk.slice(6)), item });
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
  } finally {
    client.destroy();
  }
  return table;
}

const ended = new Set(['completed', 'cancelled', 'rolled_back', 'failed']);
const terminalEventOf: Record<string, string> = {
  completed: 'image.rollout_completed',
  cancelled: 'image.rollout_cancelled',
  rolled_back: 'image.rollout_rolled_back',
  failed: 'image.rollout_failed',
};
/** Facts that happen once per rollout, per batch, or per device and app. */
const oncePerRollout = new Set(['image.webhook_received', 'image.rollout_created', 'image.rollout_started', ...Object.values(terminalEventOf)]);
const oncePerBatch = new Set(['image.batch_started', 'image.batch_completed']);
const oncePerDevice = new Set(['image.device_scheduled', 'image.device_updated', 'image.health_check_passed', 'image.health_check_failed', 'image.device_rolled_back']);

/** The event a row in this status must have: how it got there. */
const eventOfRowStatus: Partial<Record<RolloutDevice['status'], string[]>> = {
  updated: ['image.device_updated'],
  healthy: ['image.health_check_passed'],
  unhealthy: ['image.health_check_failed'],
  failed: ['image.device_failed'],
  rolled_back: ['image.device_rolled_back'],
};

export interface CheckInput {
  table: Table;
  engines: EngineTruth;
  /** Each device's image before the run, by uuid and app. */
  initial: Map<string, Map<string, string>>;
  pushes: SentPush[];
  actions: AdminAction[];
}

/** How long after its event's time a stop the system made itself is taken to have been written. */
const systemStopWriteMs = 2_000;

export function checkInvariants({ table, engines, initial, pushes, actions }: CheckInput): string[] {
  const violations: string[] = [];
  const fail = (invariant: number, message: string) => violations.push(`invariant ${invariant}: ${message}`);
  const eventsOf = (id: string) => (table.events.get(id) ?? []).slice().sort((a, b) => a.id.localeCompare(b.id));

  // 1: one rollout per push, however many copies; no fact twice.
  for (const push of pushes) {
    const ids = new Set(push.answeredRolloutIds);
    if (ids.size !== 1) fail(1, `copies of the push ${push.repository}:${push.tag} were answered with ${ids.size} rollouts (${[...ids].join(', ')})`);
    for (const id of ids) if (!table.rollouts.has(id)) fail(1, `push ${push.repository}:${push.tag} was answered with rollout ${id}, which is not in the table`);
  }
  const byDelivery = new Map<string, string[]>();
  for (const rollout of table.rollouts.values()) {
    const key = `${rollout.registry}|${rollout.delivery_id}|${rollout.policy_id}`;
    byDelivery.set(key, [...(byDelivery.get(key) ?? []), rollout.id]);
  }
  for (const [key, ids] of byDelivery) if (ids.length > 1) fail(1, `one delivery made ${ids.length} rollouts (${key}): ${ids.join(', ')}`);
  // The first copy's claim is the push every copy acts on: the rollout and the claim agree on it
  // (the time of a push its notification does not date is the claimant's time of receipt).
  for (const rollout of table.rollouts.values()) {
    const delivery = table.deliveries.get(`${rollout.registry}|${rollout.delivery_id}`);
    if (!delivery) {
      fail(1, `rollout ${rollout.id} has no claimed delivery (${rollout.registry} ${rollout.delivery_id})`);
      continue;
    }
    if (delivery.push.pushed_at !== rollout.pushed_at || (delivery.push.digest ?? null) !== (rollout.digest ?? null)) {
      fail(1, `rollout ${rollout.id} was pushed at ${rollout.pushed_at} (${rollout.digest ?? 'no digest'}) but its delivery was claimed as pushed at ${delivery.push.pushed_at} (${delivery.push.digest ?? 'no digest'}): its copies disagreed`);
    }
    if (delivery.outcome && delivery.outcome.rollout_id !== rollout.id) fail(1, `rollout ${rollout.id} was made from delivery ${rollout.delivery_id}, whose recorded outcome is ${delivery.outcome.rollout_id ?? 'no rollout'}`);
  }
  if (table.rollouts.size !== new Set(pushes.flatMap((p) => p.answeredRolloutIds)).size) {
    fail(1, `the table holds ${table.rollouts.size} rollouts, the pushes were answered with ${new Set(pushes.flatMap((p) => p.answeredRolloutIds)).size}`);
  }
  for (const rollout of table.rollouts.values()) {
    const seen = new Map<string, number>();
    for (const event of eventsOf(rollout.id)) {
      const details = event.details ?? {};
      const key = oncePerRollout.has(event.type)
        ? event.type
        : oncePerBatch.has(event.type)
          ? `${event.type} batch ${String(details.batch)}`
          : oncePerDevice.has(event.type)
            ? `${event.type} device ${event.device_uuid} app ${String(details.app)}`
            : undefined;
      if (key) seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    for (const [key, count] of seen) if (count > 1) fail(1, `rollout ${rollout.id} recorded ${key} ${count} times`);
    const terminal = eventsOf(rollout.id).filter((e) => Object.values(terminalEventOf).includes(e.type));
    if (terminal.length > 1) fail(1, `rollout ${rollout.id} recorded ${terminal.length} endings: ${terminal.map((e) => e.type).join(', ')}`);
  }

  for (const rollout of table.rollouts.values()) {
    const rows = table.rows.get(rollout.id) ?? [];
    const events = eventsOf(rollout.id);

    // 2: an ended rollout leaves no device pending or scheduled, and loses none.
    if (ended.has(rollout.status)) {
      for (const row of rows) {
        if (row.status === 'pending' || row.status === 'scheduled') fail(2, `rollout ${rollout.id} is ${rollout.status} but device ${row.device_uuid} is still ${row.status}`);
      }
    }
    if (rollout.planning?.done && rows.length !== rollout.total_devices) {
      fail(2, `rollout ${rollout.id} planned ${rollout.total_devices} devices but has ${rows.length} rows`);
    }
    // A rollout cancelled, rolled back or failed while still being planned never had the rest of
    // its devices (their rows would be checked above); one that ran must have planned them all.
    if ((rollout.status === 'completed' || rollout.status === 'in_progress' || rollout.status === 'paused') && !rollout.planning?.done) {
      fail(2, `rollout ${rollout.id} is ${rollout.status} but its planning never finished`);
    }

    // 3: after rollback-all, no device of the rollout targets its image (unless a newer push set it).
    if (rollout.status === 'rolled_back') {
      const rank = rolloutRank(rollout);
      for (const row of rows) {
        if (row.status !== 'rolled_back' && row.status !== 'skipped') fail(3, `rollout ${rollout.id} is rolled back but device ${row.device_uuid} is ${row.status}`);
        const device = table.devices.get(row.device_uuid);
        const target = device?.target_apps.find((a) => a.name === row.app);
        const setBy = device?.target_set_by?.[row.app] ?? '';
        if (target?.image === rollout.image && setBy <= rank) fail(3, `rollout ${rollout.id} is rolled back but device ${row.device_uuid} still targets ${rollout.image}`);
      }
    }

    // 3: a device rolled back no longer has the target the rollout gave it (another push may
    // have given it the same image since; that one is not this rollout's to undo).
    for (const row of rows) {
      if (row.status !== 'rolled_back' || row.new_image === row.previous_image) continue;
      const device = table.devices.get(row.device_uuid);
      const target = device?.target_apps.find((a) => a.name === row.app);
      if (target?.image === row.new_image && device?.target_set_by?.[row.app] === rolloutRank(rollout)) {
        fail(3, `rollout ${rollout.id} rolled device ${row.device_uuid} back, but it still targets ${row.new_image}`);
      }
    }
    // 3: every rollback an admin was told succeeded did.
    for (const action of actions.filter((a) => a.rolloutId === rollout.id && a.action === 'rollback-device' && a.status === 200)) {
      const mine = rows.filter((row) => row.device_uuid === action.deviceUuid);
      if (mine.length === 0 || mine.some((row) => row.status !== 'rolled_back')) {
        fail(3, `an admin was told device ${action.deviceUuid} of rollout ${rollout.id} was rolled back, but its rows are ${mine.map((r) => r.status).join(', ') || 'gone'}`);
      }
      const unrestored = (action.outcomes ?? []).filter((outcome) => outcome === 'failed');
      if (unrestored.length > 0) fail(3, `rolling device ${action.deviceUuid} of rollout ${rollout.id} back answered ${unrestored.length} app(s) failed: the device is still there, its target was not restored`);
    }

    // 4: nothing scheduled while paused, nor after the end. A stop's event carries the time its
    // work began, and its write lands a little later (later still when its calls are retried); a
    // page of scheduling that began in between read the rollout still under way. So an admin's
    // stop counts from when its answer arrived; one the system made itself (a pause for failures,
    // a supersede, a failure), whose write time nothing outside records, a moment after its event.
    const stops = new Set(['image.rollout_paused', 'image.rollout_cancelled', 'image.rollout_rolled_back', 'image.rollout_failed']);
    const stopActions = actions.filter((a) => a.rolloutId === rollout.id && a.status < 300 && ['pause', 'cancel', 'rollback-all'].includes(a.action));
    const written = (event: RolloutEvent) => {
      const answered = stopActions.map((a) => a.answeredAt).filter((t) => t >= event.timestamp).sort()[0];
      const byAdmin = event.type !== 'image.rollout_failed' && event.details?.automatic !== true && !String(event.details?.reason ?? '').startsWith('superseded by');
      return byAdmin && answered ? answered : new Date(Date.parse(event.timestamp) + systemStopWriteMs).toISOString();
    };
    let stoppedAt: string | undefined;
    for (const event of events) {
      if (stops.has(event.type)) stoppedAt ??= written(event);
      else if (event.type === 'image.rollout_resumed') stoppedAt = undefined;
      else if (event.type === 'image.device_scheduled' && stoppedAt && event.timestamp > stoppedAt) {
        fail(4, `rollout ${rollout.id} scheduled device ${event.device_uuid} at ${event.timestamp}, after it stopped at ${stoppedAt}`);
      }
    }

    // 5: each batch counter equals the statuses of its rows.
    const batchOfSeq = (seq: number) => rollout.batches.find((b) => seq >= b.first_seq && seq < b.first_seq + b.size)?.number;
    for (const counter of table.counters.filter((c) => c.rolloutId === rollout.id)) {
      const mine = rows.filter((r) => r.shard === counter.shard && batchOfSeq(r.seq) === counter.batch);
      const differences: string[] = [];
      for (const status of deviceRolloutStatuses) {
        if (status === 'pending') continue;
        const counted = Number(counter.item[status] ?? 0);
        const actual = mine.filter((r) => r.status === status).length;
        if (counted !== actual) differences.push(`${status} ${counted} counted, ${actual} rows`);
      }
      const failures = mine.filter((r) => countsAsFailure(r)).length;
      if (Number(counter.item.failures ?? 0) !== failures) differences.push(`failures ${Number(counter.item.failures ?? 0)} counted, ${failures} rows`);
      if (differences.length > 0) fail(5, `rollout ${rollout.id} (${rollout.status}) batch ${counter.batch} shard ${counter.shard}: ${differences.join('; ')}`);
    }

    // 9: each state change has its event.
    const has = (type: string, uuid?: string) => events.some((e) => e.type === type && (uuid === undefined || e.device_uuid === uuid));
    if (rollout.started_at && !has('image.rollout_started')) fail(9, `rollout ${rollout.id} started without image.rollout_started`);
    if (ended.has(rollout.status) && !has(terminalEventOf[rollout.status]!)) fail(9, `rollout ${rollout.id} is ${rollout.status} without ${terminalEventOf[rollout.status]}`);
    if (!has('image.rollout_created')) fail(9, `rollout ${rollout.id} has no image.rollout_created`);
    for (const batch of rollout.batches) {
      if (batch.started_at && !events.some((e) => e.type === 'image.batch_started' && e.details?.batch === batch.number)) fail(9, `rollout ${rollout.id} batch ${batch.number} started without its event`);
      if (batch.completed_at && batch.status === 'completed' && !events.some((e) => e.type === 'image.batch_completed' && e.details?.batch === batch.number)) {
        fail(9, `rollout ${rollout.id} batch ${batch.number} completed without its event`);
      }
    }
    for (const row of rows) {
      if (row.scheduled_at && !has('image.device_scheduled', row.device_uuid) && row.status !== 'skipped' && row.status !== 'rolled_back') {
        fail(9, `rollout ${rollout.id} device ${row.device_uuid} was scheduled without image.device_scheduled`);
      }
      const needed = eventOfRowStatus[row.status];
      if (needed && !needed.some((type) => has(type, row.device_uuid))) fail(9, `rollout ${rollout.id} device ${row.device_uuid} is ${row.status} without ${needed.join(' or ')}`);
    }
    if (Array.isArray(rollout.outbox) && rollout.outbox.length > 0) fail(9, `rollout ${rollout.id} still holds ${rollout.outbox.length} unrecorded event(s)`);
  }

  // 8: every device on the image its history says; engines run their targets.
  const rowsByDevice = new Map<string, { rollout: Rollout; row: RolloutDevice }[]>();
  for (const rollout of table.rollouts.values()) {
    for (const row of table.rows.get(rollout.id) ?? []) {
      const key = `${row.device_uuid}|${row.app}`;
      rowsByDevice.set(key, [...(rowsByDevice.get(key) ?? []), { rollout, row }]);
    }
  }
  for (const [uuid, apps] of initial) {
    const device = table.devices.get(uuid);
    const running = engines.get(uuid) ?? new Map<string, string>();
    for (const [app, initialImage] of apps) {
      const target = device?.target_apps.find((a) => a.name === app)?.image;
      const runs = running.get(app);
      if (target !== runs) fail(8, `device ${uuid} app ${app} runs ${runs ?? 'nothing'} but its target is ${target ?? 'nothing'}`);
      const history = (rowsByDevice.get(`${uuid}|${app}`) ?? []).sort((a, b) => (rolloutRank(b.rollout) < rolloutRank(a.rollout) ? -1 : 1));
      const expected = expectedImages(history, initialImage);
      if (expected.images !== undefined && (runs === undefined || !expected.images.includes(runs))) {
        fail(8, `device ${uuid} app ${app} runs ${runs ?? 'nothing'}, but ${expected.why} says ${expected.images.join(' or ')}`);
      }
      // 8: a device's target is never set by a rollout older than one that moved it and saw it
      // update (a target write is conditional on no newer rollout having set the target).
      const setBy = device?.target_set_by?.[app];
      for (const { rollout, row } of history) {
        if (row.status !== 'updated' && row.status !== 'healthy' && row.status !== 'unhealthy') continue;
        if (setBy === undefined || setBy < rolloutRank(rollout)) {
          fail(8, `device ${uuid} app ${app} had its target set by ${setBy ?? 'no rollout'}, older than rollout ${rollout.id} (${row.status} there)`);
        }
        break;
      }
    }
  }
  for (const rollout of table.rollouts.values()) {
    if (rollout.status !== 'completed') continue;
    for (const row of table.rows.get(rollout.id) ?? []) {
      if (row.status !== 'updated' && row.status !== 'healthy') continue;
      const runs = engines.get(row.device_uuid)?.get(row.app);
      const newer = (rowsByDevice.get(`${row.device_uuid}|${row.app}`) ?? []).some(
        (other) => rolloutRank(other.rollout) > rolloutRank(rollout) && other.row.status !== 'pending' && !(other.row.status === 'skipped' && !other.row.scheduled_at),
      );
      const repository = normaliseRepository(rollout.repository);
      if (runs !== rollout.image && !newer) fail(8, `rollout ${rollout.id} (${repository}) says completed but device ${row.device_uuid} runs ${runs ?? 'nothing'}, not ${rollout.image}`);
    }
  }
  // 8: the newest push of each repository, once its rollout has completed, has the repository's
  // whole fleet on its image: a device it left out at planning must have been on it already.
  const newest = new Map<string, Rollout>();
  for (const rollout of table.rollouts.values()) {
    const repository = normaliseRepository(rollout.repository);
    const current = newest.get(repository);
    if (!current || rolloutRank(rollout) > rolloutRank(current)) newest.set(repository, rollout);
  }
  for (const [repository, rollout] of newest) {
    if (rollout.status !== 'completed') continue;
    const included = new Set((table.rows.get(rollout.id) ?? []).map((row) => `${row.device_uuid}|${row.app}`));
    for (const [uuid, apps] of initial) {
      for (const [app, image] of apps) {
        if (normaliseRepository(image) !== repository || included.has(`${uuid}|${app}`)) continue;
        const runs = engines.get(uuid)?.get(app);
        if (runs !== rollout.image) fail(8, `device ${uuid} app ${app} was left out of ${rollout.id}, the newest push of ${repository} (completed), and runs ${runs ?? 'nothing'}, not ${rollout.image}`);
      }
    }
  }
  return violations;
}

/**
 * The images a device app may end on, from the rows of every rollout that included it, newest
 * push first: the first rollout that decided something about the device decides the image. A row
 * never scheduled (pending, or skipped before scheduling) decided nothing; a row skipped after
 * scheduling was reverted, unless a newer push took it over (then the newer rollout's row, seen
 * first, decides). A row reverted (rolled back, or skipped after scheduling) puts the device back
 * on its previous image, unless the revert came before its rollout ever set the target (a revert
 * undoes only what its rollout did): then the older rollouts decide, as if it had never run.
 * Undefined images: nothing settled to check against.
 */
function expectedImages(history: { rollout: Rollout; row: RolloutDevice }[], initialImage: string): { images?: string[]; why: string } {
  for (const [index, { rollout, row }] of history.entries()) {
    const handedOver = rollout.status === 'cancelled' && (rollout.status_reason ?? '').startsWith('superseded by');
    const why = `rollout ${rollout.id} (${row.status})`;
    switch (row.status) {
      case 'updated':
      case 'healthy':
      case 'unhealthy':
        return { images: [rollout.image], why };
      case 'failed':
        return { images: [row.previous_image], why };
      case 'skipped':
      case 'rolled_back': {
        if (row.status === 'skipped' && !row.scheduled_at) continue;
        if (row.status === 'skipped' && handedOver) return { images: [rollout.image], why: `rollout ${rollout.id} (superseded, handed over)` };
        const older = expectedImages(history.slice(index + 1), initialImage);
        return { images: [row.previous_image, ...(older.images ?? []).filter((image) => image !== row.previous_image)], why: older.images ? `${why}, or before it ${older.why},` : why };
      }
      default:
        return { why };
    }
  }
  return { images: [initialImage], why: 'no rollout moved it' };
}
