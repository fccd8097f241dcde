/**
 * The store modules against dynalite, where the end-to-end tests do not reach: rollouts spread
 * over several shards, paging through every listing, lost and concurrent counter updates, and the
 * conditional writes that make repeated work harmless. Every test uses its own ids; the host's
 * handlers never touch them because no webhook or queue message names them.
 */
import { randomUUID } from 'node:crypto';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { dynamo } from '../../lib/aws-clients';
import { joinedFirstSeq, seqRangesOf } from '../../lib/domain/batch-plan';
import { countsAsFailure, emptyCounts } from '../../lib/domain/rollout-progress';
import type {
  DeviceRolloutStatus,
  PolicySettings,
  Rollout,
  RolloutDevice,
  RolloutEvent,
  RolloutPointer,
  RolloutStatus,
  BatchCounts,
} from '../../lib/domain/types';
import { Conflict, Invalid } from '../../lib/errors';
import { adminPrincipalOf, isAdminKey } from '../../lib/admin-keys';
import { ensureAdminKey } from '../../lib/store/admin-keys';
import { claimDelivery, recordDeliveryOutcome } from '../../lib/store/deliveries';
import { encodeCursor } from '../../lib/store/cursor';
import {
  clearPendingJoins,
  clearRolloutPointer,
  countRepositoryMembers,
  getStoredDevice,
  listDevices,
  listRepositoryMembers,
  fenceRolloutTarget,
  restoreRolloutTarget,
  setRolloutTarget,
  publicDevice,
  putNewDevice,
  recordCurrentState,
  updateDeviceFields,
  type StoredDevice,
} from '../../lib/store/devices';
import { appendEvent, appendEvents, listEvents, type NewEvent } from '../../lib/store/events';
import { keys, shardOf } from '../../lib/store/keys';
import {
  countTransitions,
  findRolloutDevice,
  getAllBatchCounts,
  getRolloutDevice,
  listRolloutDevices,
  putRolloutDevices,
  queryRowsInRange,
  queryRowsInRanges,
  reconcileBatchShard,
  retryRolloutDevice,
  transitionRolloutDevice,
} from '../../lib/store/rollout-devices';
import { createRollout, getRollout, listRollouts, rolloutsWithStatus, saveRollout } from '../../lib/store/rollouts';

let host: Host;

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 30, quiet: true });
});

afterAll(async () => {
  await host?.stop();
});

afterEach(() => {
  vi.restoreAllMocks();
});

// ---------------------------------------------------------------------------------------------
// Fixtures

/** One batch's counts, summed over the shards, as batch-advance reads them. */
const batchCounts = async (id: string, shards: number, batch: number) => (await getAllBatchCounts(id, shards)).get(batch) ?? emptyCounts();

const SHARDS = 3;

const policySettings: PolicySettings = {
  image_pattern: 'acme/*',
  update_strategy: 'staged',
  batch_percentages: [10, 100],
  batch_delay_minutes: 0,
  update_timeout_minutes: 30,
  health_check_enabled: false,
  health_check_config: null,
  auto_rollback_enabled: false,
  max_failure_rate: 0.2,
};

/**
 * A rollout the tick leaves alone: a pending one counts as planned, an in-progress one as still
 * planning, so neither the re-planning nor the evaluation path finds anything to do with it.
 */
function rollout(overrides: Partial<Rollout> = {}): Rollout {
  const id = overrides.id ?? randomUUID();
  const repository = overrides.repository ?? `acme/app-${id.slice(0, 8)}`;
  const tag = overrides.tag ?? 'v2';
  const status: RolloutStatus = overrides.status ?? 'paused';
  const created = overrides.created_at ?? '2030-01-01T00:00:00.000Z';
  return {
    id,
    policy_id: 'policy-store-test',
    registry: 'dockerhub',
    repository,
    tag,
    image: `${repository}:${tag}`,
    pushed_at: created,
    delivery_id: `delivery-${id}`,
    status,
    policy: policySettings,
    batches: [],
    current_batch: 0,
    planning: { done: status !== 'in_progress', assigned: 0 },
    total_devices: 0,
    shard_count: SHARDS,
    version: 1,
    created_at: created,
    updated_at: created,
    ...overrides,
  };
}

function row(rolloutId: string, seq: number, uuid = randomUUID()): RolloutDevice {
  return {
    rollout_id: rolloutId,
    device_uuid: uuid,
    device_name: `device-${seq}`,
    app: 'app',
    seq,
    shard: shardOf(uuid, SHARDS),
    batch: null,
    status: 'pending',
    previous_image: 'acme/app:v1',
    new_image: 'acme/app:v2',
    updated_at: '2030-01-01T00:00:00.000Z',
  };
}

/** `count` rows with sequence numbers 0 … count - 1, each in the shard its device hashes to. */
async function putRows(rolloutId: string, count: number): Promise<RolloutDevice[]> {
  const rows = Array.from({ length: count }, (_, seq) => row(rolloutId, seq));
  await putRolloutDevices(rows);
  return rows;
}

function storedDevice(overrides: Partial<StoredDevice> = {}): StoredDevice {
  return {
    uuid: randomUUID(),
    name: 'edge-gateway',
    ip_address: null,
    target_apps: [{ name: 'app', image: 'acme/app:v1' }],
    target_version: 1,
    current_apps: [],
    current_error: null,
    reported_at: null,
    rollouts: {},
    target_set_by: {},
    created_at: '2030-01-01T00:00:00.000Z',
    updated_at: '2030-01-01T00:00:00.000Z',
    token_hash: 'f'.repeat(64),
    ...overrides,
  };
}

const seqs = (rows: { seq: number }[]) => rows.map((r) => r.seq).sort((a, b) => a - b);
const at = (minute: number) => new Date(Date.UTC(2030, 0, 1, 0, minute)).toISOString();

/** Counts of the rows of a batch (pending rows are not counted, as in the counters). */
function countsOfRows(rows: RolloutDevice[]): BatchCounts {
  const counts = emptyCounts();
  for (const r of rows) if (r.status !== 'pending') counts[r.status] += 1;
  for (const r of rows) if (countsAsFailure(r)) counts.failures += 1;
  return counts;
}

/** Moves a row and counts the move, as the handlers do. */
async function move(r: RolloutDevice, batch: number, from: DeviceRolloutStatus[], to: DeviceRolloutStatus) {
  const previous = await transitionRolloutDevice(r, from, to, { batch, at: at(1) });
  if (previous) await countTransitions(r, batch, [{ from: previous, to }]);
  return previous;
}

async function currentRows(rows: RolloutDevice[]): Promise<RolloutDevice[]> {
  return Promise.all(rows.map(async (r) => (await getRolloutDevice(r))!));
}

// ---------------------------------------------------------------------------------------------

describe('rollout devices over several shards', () => {
  it('spreads rows by device and returns exactly a sequence range per shard, a page at a time', async () => {
    const id = randomUUID();
    const rows = await putRows(id, 30);
    expect(new Set(rows.map((r) => r.shard))).toEqual(new Set([0, 1, 2]));

    const [first, size] = [7, 12];
    for (let shard = 0; shard < SHARDS; shard++) {
      const expected = rows.filter((r) => r.shard === shard && r.seq >= first && r.seq < first + size);
      const found: RolloutDevice[] = [];
      let startKey: Record<string, unknown> | undefined;
      let pages = 0;
      do {
        const page = await queryRowsInRange(id, shard, first, size, 2, startKey);
        expect(page.rows.length).toBeLessThanOrEqual(2);
        found.push(...page.rows);
        startKey = page.lastKey;
        pages++;
      } while (startKey && pages < 50);
      // In sequence order, each row once, the stored row as written.
      expect(found.map((r) => r.seq)).toEqual(seqs(expected));
      expect(found).toEqual(expected.sort((a, b) => a.seq - b.seq));
    }
  });

  it("pages a batch's planned range and its joined block as one, leaving the rows between to other batches", async () => {
    const id = randomUUID();
    const rows = await putRows(id, 30);
    // Joiners of batch 2 sit far above the planned rows; one row of another batch's block too.
    const joined = rows.slice(0, 9).map((r, i) => ({ ...r, device_uuid: `${r.device_uuid}-j`, seq: joinedFirstSeq(2) + i }));
    const otherBlock = { ...rows[0]!, device_uuid: 'other-block', seq: joinedFirstSeq(3) };
    await putRolloutDevices([...joined, otherBlock]);
    const batch = { number: 2, first_seq: 7, size: 12, joined_devices: 9 };
    for (let shard = 0; shard < SHARDS; shard++) {
      const expected = [...rows, ...joined].filter((r) => r.shard === shard && ((r.seq >= 7 && r.seq < 19) || (r.seq >= joinedFirstSeq(2) && r.seq < joinedFirstSeq(2) + 9)));
      for (const limit of [1, 2, 3, 500]) {
        const found: RolloutDevice[] = [];
        let startKey: Record<string, unknown> | undefined;
        let pages = 0;
        do {
          const page = await queryRowsInRanges(id, shard, seqRangesOf(batch), limit, startKey);
          expect(page.rows.length).toBeLessThanOrEqual(limit);
          found.push(...page.rows);
          startKey = page.lastKey;
        } while (startKey && ++pages < 100);
        expect(seqs(found)).toEqual(seqs(expected));
        expect(found.map((r) => r.seq)).toEqual(seqs(expected)); // in order, each once
      }
      // The recount reads both parts as well.
      const recount = await reconcileBatchShard(id, shard, 2, seqRangesOf(batch));
      expect(recount.counts.pending).toBe(0); // pending rows are not counted
    }
  });

  it("finds a device's rows by uuid in its shard", async () => {
    const id = randomUUID();
    const rows = await putRows(id, 30);
    const target = rows[17]!;
    expect(await findRolloutDevice(id, target.shard, target.device_uuid)).toEqual([target]);
    // The same device running the repository in a second app has a second row.
    const second = { ...target, app: 'sidecar', seq: 30 };
    await putRolloutDevices([second]);
    const both = await findRolloutDevice(id, target.shard, target.device_uuid);
    expect(both.sort((a, b) => a.seq - b.seq)).toEqual([target, second]);
    // Not in another shard, nor under another rollout; the lookup items never show as devices.
    expect(await findRolloutDevice(id, (target.shard + 1) % SHARDS, target.device_uuid)).toEqual([]);
    expect(await findRolloutDevice(randomUUID(), target.shard, target.device_uuid)).toEqual([]);
    expect((await listRolloutDevices(id, SHARDS, 100)).devices).toHaveLength(31);
  });

  it('moves a row only from the allowed statuses, once', async () => {
    const id = randomUUID();
    const [r] = await putRows(id, 1);

    expect(await transitionRolloutDevice(r!, ['scheduled'], 'updated', { batch: 1, at: at(1) })).toBeUndefined();
    expect((await getRolloutDevice(r!))!.status).toBe('pending');

    const previous = await transitionRolloutDevice(r!, ['pending'], 'scheduled', {
      batch: 1,
      at: at(2),
      extra: { scheduled_at: at(2) },
    });
    expect(previous).toBe('pending');
    expect(await transitionRolloutDevice(r!, ['pending'], 'scheduled', { batch: 1, at: at(3) })).toBeUndefined();

    expect(await transitionRolloutDevice(r!, ['pending', 'scheduled'], 'failed', { batch: 1, at: at(4), error: 'timed out' })).toBe(
      'scheduled',
    );
    const stored = await getRolloutDevice(r!);
    expect(stored).toMatchObject({ status: 'failed', batch: 1, scheduled_at: at(2), updated_at: at(4), error: 'timed out' });
  });

  it('transitioning a row that does not exist changes nothing', async () => {
    const ref = { rollout_id: randomUUID(), shard: 1, seq: 3 };
    expect(await transitionRolloutDevice(ref, ['pending'], 'scheduled', { batch: 1, at: at(1) })).toBeUndefined();
    expect(await getRolloutDevice(ref)).toBeUndefined();
  });

  it('counts transitions per shard and sums a batch over the shards', async () => {
    const id = randomUUID();
    const rows = await putRows(id, 30);
    const batch1 = rows.filter((r) => r.seq < 10);
    const batch2 = rows.filter((r) => r.seq >= 10);

    for (const r of batch1) await move(r, 1, ['pending'], 'scheduled');
    for (const r of batch1.slice(0, 6)) await move(r, 1, ['scheduled'], 'updated');
    for (const r of batch1.slice(0, 2)) await move(r, 1, ['updated'], 'healthy');
    await move(batch1[9]!, 1, ['scheduled'], 'failed');
    for (const r of batch2.slice(0, 4)) await move(r, 2, ['pending'], 'scheduled');

    // The last count returned is the shard's, not the batch's.
    const r = batch1[2]!;
    const shardCounts = await countTransitions(r, 1, [{ from: 'updated', to: 'unhealthy' }]);
    await transitionRolloutDevice(r, ['updated'], 'unhealthy', { batch: 1, at: at(5) });
    const inShard = countsOfRows(await currentRows(batch1.filter((x) => x.shard === r.shard)));
    expect(shardCounts).toEqual(inShard);

    const now1 = await currentRows(batch1);
    const now2 = await currentRows(batch2);
    expect(countsOfRows(now1)).toEqual({ ...emptyCounts(), scheduled: 3, updated: 3, healthy: 2, unhealthy: 1, failed: 1, failures: 2 });
    expect(await batchCounts(id, SHARDS, 1)).toEqual(countsOfRows(now1));
    expect(await batchCounts(id, SHARDS, 2)).toEqual(countsOfRows(now2));
    expect(await batchCounts(id, SHARDS, 3)).toEqual(emptyCounts());

    const all = await getAllBatchCounts(id, SHARDS);
    expect([...all.keys()].sort()).toEqual([1, 2]);
    expect(all.get(1)).toEqual(countsOfRows(now1));
    expect(all.get(2)).toEqual({ ...emptyCounts(), scheduled: 4 });
  });

  it('a recount repairs a counter that missed a transition (crash between transition and count)', async () => {
    const id = randomUUID();
    const rows = await putRows(id, 30);
    const batch = rows.filter((r) => r.seq < 12);
    for (const r of batch) await move(r, 1, ['pending'], 'scheduled');
    // Crashes: the rows moved, the counters never heard of it.
    const lost = batch.slice(0, 4);
    for (const r of lost) expect(await transitionRolloutDevice(r, ['scheduled'], 'updated', { batch: 1, at: at(2) })).toBe('scheduled');
    expect(await batchCounts(id, SHARDS, 1)).toEqual({ ...emptyCounts(), scheduled: 12 });

    for (let shard = 0; shard < SHARDS; shard++) {
      const expected = countsOfRows((await currentRows(batch)).filter((r) => r.shard === shard));
      expect(await reconcileBatchShard(id, shard, 1, [{ first_seq: 0, size: 12 }])).toEqual({ counts: expected, stored: true });
    }
    expect(await batchCounts(id, SHARDS, 1)).toEqual({ ...emptyCounts(), scheduled: 8, updated: 4 });

    // Counting continues from the repaired values.
    await move(lost[0]!, 1, ['updated'], 'healthy');
    expect(await batchCounts(id, SHARDS, 1)).toEqual({ ...emptyCounts(), scheduled: 8, updated: 3, healthy: 1 });
  });

  it('keeps counting a failed device as a failure once it is rolled back, and a healthy one rolled back as none, recounts included', async () => {
    const id = randomUUID();
    const rows = await putRows(id, 30);
    const batch = rows.filter((r) => r.seq < 10);
    for (const r of batch) await move(r, 1, ['pending'], 'scheduled');
    const [failed, unhealthy, healthy] = batch;
    await move(failed!, 1, ['scheduled'], 'failed');
    await move(unhealthy!, 1, ['scheduled'], 'updated');
    await move(unhealthy!, 1, ['updated'], 'unhealthy');
    await move(healthy!, 1, ['scheduled'], 'updated');
    await move(healthy!, 1, ['updated'], 'healthy');
    expect((await batchCounts(id, SHARDS, 1)).failures).toBe(2);

    for (const r of [failed!, unhealthy!, healthy!]) await move(r, 1, ['failed', 'unhealthy', 'healthy'], 'rolled_back');
    expect(await batchCounts(id, SHARDS, 1)).toMatchObject({ rolled_back: 3, failed: 0, unhealthy: 0, failures: 2 });
    expect(await getRolloutDevice(failed!)).toMatchObject({ status: 'rolled_back', failed_at: at(1) });
    expect(await getRolloutDevice(healthy!)).not.toHaveProperty('failed_at');

    for (let shard = 0; shard < SHARDS; shard++) await reconcileBatchShard(id, shard, 1, [{ first_seq: 0, size: 10 }]);
    expect(await batchCounts(id, SHARDS, 1)).toMatchObject({ rolled_back: 3, failures: 2 });
    expect(await batchCounts(id, SHARDS, 1)).toEqual(countsOfRows(await currentRows(batch)));
  });

  it('a retry schedules a failed row again once per attempt, and takes its failure back, recounts included', async () => {
    const id = randomUUID();
    const rows = await putRows(id, 10);
    for (const r of rows) await move(r, 1, ['pending'], 'scheduled');
    const [failed, unhealthy] = rows;
    await transitionRolloutDevice(failed!, ['scheduled'], 'failed', { batch: 1, at: at(1), error: 'pull failed' });
    await countTransitions(failed!, 1, [{ from: 'scheduled', to: 'failed' }]);
    await move(unhealthy!, 1, ['scheduled'], 'updated');
    await move(unhealthy!, 1, ['updated'], 'unhealthy');
    expect((await batchCounts(id, SHARDS, 1)).failures).toBe(2);

    for (const r of [failed!, unhealthy!]) {
      const from = await retryRolloutDevice(r, 2, at(2), r === failed ? 'pull failed' : 'unhealthy');
      expect(from).toMatch(/^(failed|unhealthy)$/);
      await countTransitions(r, 1, [{ from: from!, to: 'scheduled' }]);
      // A round repeated after a crash finds the row no longer failed from attempt 1: moved once.
      expect(await retryRolloutDevice(r, 2, at(3), 'pull failed')).toBeUndefined();
    }
    expect(await getRolloutDevice(failed!)).toMatchObject({ status: 'scheduled', attempts: 2, last_error: 'pull failed', scheduled_at: at(2) });
    expect(await getRolloutDevice(failed!)).not.toHaveProperty('failed_at');
    expect(await getRolloutDevice(failed!)).not.toHaveProperty('error');
    expect(await batchCounts(id, SHARDS, 1)).toMatchObject({ scheduled: 10, failed: 0, unhealthy: 0, failures: 0 });

    // Failing its second attempt, it is retried for a third only from attempt 2.
    await transitionRolloutDevice(failed!, ['scheduled'], 'failed', { batch: 1, at: at(4), error: 'pull failed again' });
    expect(await retryRolloutDevice(failed!, 2, at(5), 'pull failed again')).toBeUndefined();
    expect(await retryRolloutDevice(failed!, 3, at(5), 'pull failed again')).toBe('failed');
    expect(await getRolloutDevice(failed!)).toMatchObject({ attempts: 3, last_error: 'pull failed again' });
    for (let shard = 0; shard < SHARDS; shard++) await reconcileBatchShard(id, shard, 1, [{ first_seq: 0, size: 10 }]);
    expect(await batchCounts(id, SHARDS, 1)).toEqual(countsOfRows(await currentRows(rows)));
  });

  it('a recount creates the counters of a shard that has none yet', async () => {
    const id = randomUUID();
    const rows = await putRows(id, 30);
    const r = rows.find((x) => x.seq < 10)!;
    await transitionRolloutDevice(r, ['pending'], 'scheduled', { batch: 1, at: at(1) });
    expect(await reconcileBatchShard(id, r.shard, 1, [{ first_seq: 0, size: 10 }])).toEqual({ counts: { ...emptyCounts(), scheduled: 1 }, stored: true });
    expect(await batchCounts(id, SHARDS, 1)).toEqual({ ...emptyCounts(), scheduled: 1 });
  });

  it('a recount leaves a shard alone while a move may still be on its way to its count', async () => {
    const id = randomUUID();
    const rows = await putRows(id, 30);
    const [r] = rows.filter((x) => x.seq < 10);
    await move(r!, 1, ['pending'], 'scheduled');
    // Moved just now; its count has not landed yet.
    expect(await transitionRolloutDevice(r!, ['scheduled'], 'updated', { batch: 1, at: at(5) })).toBe('scheduled');
    expect((await reconcileBatchShard(id, r!.shard, 1, [{ first_seq: 0, size: 10 }], { settledBefore: at(3) })).stored).toBe(false);
    await countTransitions(r!, 1, [{ from: 'scheduled', to: 'updated' }]);
    expect(await batchCounts(id, SHARDS, 1)).toMatchObject({ scheduled: 0, updated: 1 });
    // Once the shard is quiet, a recount repairs and never double-counts.
    expect(await reconcileBatchShard(id, r!.shard, 1, [{ first_seq: 0, size: 10 }], { settledBefore: at(6) })).toMatchObject({ counts: { updated: 1 }, stored: true });
    expect(await batchCounts(id, SHARDS, 1)).toMatchObject({ scheduled: 0, updated: 1 });
  });

  it('a recount does not overwrite a transition counted while it was recounting', async () => {
    const id = randomUUID();
    const rows = await putRows(id, 30);
    const batch = rows.filter((r) => r.seq < 10);
    for (const r of batch) await move(r, 1, ['pending'], 'scheduled');
    const shard = batch[0]!.shard;
    const inShard = batch.filter((r) => r.shard === shard);
    const concurrent = inShard[0]!;

    // Between the recount's read of the rows and its write of the counters, a device reports
    // and its transition is counted: the recount's write is then stale and must not land.
    const client = dynamo();
    const send = client.send.bind(client) as (command: unknown) => Promise<unknown>;
    const counterSk = keys.batchCounters(id, shard, 1).sk;
    let counterWrites = 0;
    vi.spyOn(client, 'send').mockImplementation((async (command: unknown) => {
      if (command instanceof PutCommand && command.input.Item?.sk === counterSk) {
        counterWrites++;
        if (counterWrites === 1) {
          expect(await transitionRolloutDevice(concurrent, ['scheduled'], 'updated', { batch: 1, at: at(3) })).toBe('scheduled');
          await countTransitions(concurrent, 1, [{ from: 'scheduled', to: 'updated' }]);
        }
      }
      return send(command);
    }) as never);

    const recounted = await reconcileBatchShard(id, shard, 1, [{ first_seq: 0, size: 10 }]);
    vi.restoreAllMocks();

    expect(counterWrites).toBe(2);
    const expected = { ...emptyCounts(), scheduled: inShard.length - 1, updated: 1 };
    expect(recounted).toEqual({ counts: expected, stored: true });
    expect(countsOfRows(await currentRows(inShard))).toEqual(expected);
    expect(await batchCounts(id, SHARDS, 1)).toEqual({ ...emptyCounts(), scheduled: 9, updated: 1 });
  });

  it('lists a rollout\'s devices a page at a time across shards, without loss or repeats', async () => {
    const id = randomUUID();
    const rows = await putRows(id, 30);

    const seen: RolloutDevice[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listRolloutDevices(id, SHARDS, 4, cursor);
      expect(page.devices.length).toBeLessThanOrEqual(4);
      seen.push(...page.devices);
      cursor = page.next_cursor ?? undefined;
      pages++;
    } while (cursor && pages < 50);

    expect(seen).toHaveLength(30);
    expect(seqs(seen)).toEqual(seqs(rows));
    // Shard order, then sequence order within a shard.
    const order = [...rows].sort((a, b) => a.shard - b.shard || a.seq - b.seq);
    expect(seen.map((r) => r.device_uuid)).toEqual(order.map((r) => r.device_uuid));

    const whole = await listRolloutDevices(id, SHARDS, 100);
    expect(whole.next_cursor).toBeNull();
    expect(whole.devices).toEqual(seen);
  });

  it('rejects a device-list cursor of another rollout or an impossible shard', async () => {
    const id = randomUUID();
    const other = randomUUID();
    await putRows(id, 30);
    await putRows(other, 3);
    const first = await listRolloutDevices(id, SHARDS, 2);
    const next = JSON.parse(Buffer.from(first.next_cursor!, 'base64url').toString('utf8'));
    expect(next.key).toBeDefined();
    const refused = (position: unknown) => expect(listRolloutDevices(id, SHARDS, 2, encodeCursor(position)!)).rejects.toBeInstanceOf(Invalid);

    await expect(listRolloutDevices(other, SHARDS, 2, first.next_cursor!)).rejects.toBeInstanceOf(Invalid);
    await refused({ shard: SHARDS });
    await refused({ shard: -1 });
    await refused({ shard: 0.5 });
    // A cursor whose key names a different shard than it claims.
    await refused({ shard: (next.shard + 1) % SHARDS, key: next.key });
  });
});

// ---------------------------------------------------------------------------------------------

describe('events', () => {
  const types = ['image.device_scheduled', 'image.device_updated', 'image.device_failed'] as const;

  /** 40 device events over 3 shards, a few milliseconds apart, some sharing a millisecond. */
  async function appendMany(rolloutId: string): Promise<NewEvent[]> {
    const base = Date.UTC(2030, 0, 1);
    const events: NewEvent[] = Array.from({ length: 40 }, (_, i) => {
      const uuid = randomUUID();
      return {
        type: types[i % 3]!,
        rollout_id: rolloutId,
        device_uuid: uuid,
        shard: shardOf(uuid, SHARDS),
        timestamp: new Date(base + Math.floor(i / 2)).toISOString(),
        details: { i },
        subject: `batch-1`,
      };
    });
    for (const event of events) await appendEvent(event);
    return events;
  }

  async function everyPage(rolloutId: string, limit: number, newestFirst = false): Promise<RolloutEvent[][]> {
    const pages: RolloutEvent[][] = [];
    let cursor: string | undefined;
    do {
      const page = await listEvents(rolloutId, SHARDS, limit, { ...(cursor ? { cursor } : {}), newestFirst });
      pages.push(page.events);
      cursor = page.next_cursor ?? undefined;
    } while (cursor && pages.length < 100);
    return pages;
  }

  it('records the same fact once', async () => {
    const id = randomUUID();
    const uuid = randomUUID();
    const fact: NewEvent = {
      type: 'image.device_updated',
      rollout_id: id,
      device_uuid: uuid,
      shard: shardOf(uuid, SHARDS),
      timestamp: at(1),
      details: { image: 'acme/app:v2' },
    };
    await appendEvent(fact);
    await appendEvent({ ...fact, details: { image: 'acme/app:v2', retried: true } });
    const { events } = await listEvents(id, SHARDS, 10);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'image.device_updated', device_uuid: uuid, timestamp: at(1), details: { image: 'acme/app:v2' } });

    // A different device at the same moment is a different fact.
    await appendEvent({ ...fact, device_uuid: randomUUID() });
    expect((await listEvents(id, SHARDS, 10)).events).toHaveLength(2);
  });

  it('merges the shards into one time-ordered list, oldest first', async () => {
    const id = randomUUID();
    const appended = await appendMany(id);
    expect(new Set(appended.map((e) => e.shard))).toEqual(new Set([0, 1, 2]));

    const { events, next_cursor } = await listEvents(id, SHARDS, 100);
    expect(next_cursor).toBeNull();
    expect(events).toHaveLength(40);
    const times = events.map((e) => Date.parse(e.timestamp));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(new Set(events.map((e) => e.device_uuid))).toEqual(new Set(appended.map((e) => e.device_uuid)));
  });

  it.each([1, 3, 7, 13, 40])('pages oldest first with cursors, without loss or repeats (limit %i)', async (limit) => {
    const id = randomUUID();
    await appendMany(id);
    const all = (await listEvents(id, SHARDS, 100)).events;

    const pages = await everyPage(id, limit);
    for (const page of pages) expect(page.length).toBeLessThanOrEqual(limit);
    expect(pages.flat().map((e) => e.id)).toEqual(all.map((e) => e.id));
  });

  it.each([1, 4, 13])('pages newest first with cursors, without loss or repeats (limit %i)', async (limit) => {
    const id = randomUUID();
    await appendMany(id);
    const all = (await listEvents(id, SHARDS, 100)).events;

    const newest = await listEvents(id, SHARDS, 5, { newestFirst: true });
    expect(newest.events).toEqual(all.slice(-5).reverse());

    const pages = await everyPage(id, limit, true);
    expect(pages.flat().map((e) => e.id)).toEqual([...all].reverse().map((e) => e.id));
  });

  it.each([false, true])('pages without loss when one shard holds the later events (newest first: %s)', async (newestFirst) => {
    // Rollout-level events all live in shard 0; a device's events may all be long past.
    const id = randomUUID();
    const uuid = randomUUID();
    // The device's event comes first in the order listed, so the later pages come from shard 0 alone.
    const deviceEventAt = newestFirst ? at(11) : at(0);
    await appendEvent({ type: 'image.device_scheduled', rollout_id: id, device_uuid: uuid, shard: 1, timestamp: deviceEventAt });
    for (let batch = 1; batch <= 10; batch++) {
      await appendEvent({ type: 'image.batch_started', rollout_id: id, timestamp: at(batch), order: batch, subject: `batch-${batch}` });
    }
    const all = (await listEvents(id, SHARDS, 100, { newestFirst })).events;
    expect(all).toHaveLength(11);

    const pages = await everyPage(id, 3, newestFirst);
    expect(pages.flat().map((e) => e.id)).toEqual(all.map((e) => e.id));
  });

  it.each([1, 2, 5, 17, 100])('lists packs and single facts in order, each once, in pages of %i either way', async (limit) => {
    // Pages of devices recorded together: packs of one millisecond, beside single facts of that
    // millisecond and rollout-level ones; one page recorded again with fewer rows (a retry).
    const id = randomUUID();
    const base = Date.UTC(2030, 0, 1);
    const device = (i: number, ms: number): NewEvent => {
      const uuid = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
      return { type: types[i % 3]!, rollout_id: id, device_uuid: uuid, shard: shardOf(uuid, SHARDS), timestamp: new Date(base + ms).toISOString(), details: { i }, subject: 'batch-1' };
    };
    const pageA = Array.from({ length: 30 }, (_, i) => device(i, 1));
    const pageB = Array.from({ length: 30 }, (_, i) => device(100 + i, 2));
    await appendEvents(pageA);
    await appendEvents(pageB);
    await appendEvents(pageA.slice(5, 12));
    await appendEvent(device(500, 1));
    await appendEvent({ type: 'image.batch_started', rollout_id: id, timestamp: new Date(base + 1).toISOString(), order: 3, subject: 'batch-1' });
    await appendEvent({ type: 'image.batch_completed', rollout_id: id, timestamp: new Date(base + 3).toISOString(), order: 4, subject: 'batch-1' });

    const all = (await listEvents(id, SHARDS, 1000)).events;
    expect(all).toHaveLength(63);
    expect(new Set(all.map((e) => e.id)).size).toBe(63);
    expect(all.map((e) => e.id)).toEqual([...all.map((e) => e.id)].sort());
    expect(all.every((e) => e.rollout_id === id)).toBe(true);
    expect(all.find((e) => e.details.i === 7)).toMatchObject({ type: types[7 % 3], device_uuid: pageA[7]!.device_uuid, timestamp: pageA[7]!.timestamp });

    expect((await everyPage(id, limit)).flat().map((e) => e.id)).toEqual(all.map((e) => e.id));
    expect((await everyPage(id, limit, true)).flat().map((e) => e.id)).toEqual([...all].reverse().map((e) => e.id));
  });

  it('keeps the order of facts recorded in the same millisecond', async () => {
    const id = randomUUID();
    const timestamp = at(5);
    // Rollout-level facts of one millisecond, ordered by the rollout version that recorded them,
    // plus device facts of that millisecond in other shards.
    const facts: NewEvent[] = [
      { type: 'image.rollout_started', rollout_id: id, timestamp, order: 2 },
      { type: 'image.batch_started', rollout_id: id, timestamp, order: 3, subject: 'batch-1' },
      { type: 'image.batch_completed', rollout_id: id, timestamp, order: 4, subject: 'batch-1' },
      { type: 'image.batch_started', rollout_id: id, timestamp, order: 5, subject: 'batch-2' },
      { type: 'image.rollout_completed', rollout_id: id, timestamp, order: 6 },
    ];
    for (const fact of [...facts].reverse()) await appendEvent(fact);
    await appendEvent({ type: 'image.rollout_created', rollout_id: id, timestamp: at(4), order: 1 });

    const { events } = await listEvents(id, SHARDS, 100);
    expect(events.map((e) => e.type)).toEqual([
      'image.rollout_created',
      'image.rollout_started',
      'image.batch_started',
      'image.batch_completed',
      'image.batch_started',
      'image.rollout_completed',
    ]);
    expect(events[2]!.id < events[3]!.id).toBe(true);
    const newest = await listEvents(id, SHARDS, 2, { newestFirst: true });
    expect(newest.events.map((e) => e.type)).toEqual(['image.rollout_completed', 'image.batch_started']);
  });

  it('rejects a malformed cursor', async () => {
    const id = randomUUID();
    await appendEvent({ type: 'image.rollout_created', rollout_id: id, timestamp: at(1) });
    const bad = ['nonsense', '1893456000000-000001-abcdefabcdef', "'; drop"];
    const badIds = ['EVENT#1893456000000-000001-abcdefabcdef', '1893456000000-1-abc', ''];
    for (const cursor of [...bad, ...badIds.map((after) => encodeCursor({ after })!), encodeCursor({ id: '1893456000000-000001-abcdefabcdef' })!]) {
      await expect(listEvents(id, SHARDS, 10, { cursor })).rejects.toBeInstanceOf(Invalid);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('rollouts', () => {
  async function everyRollout(filter: Parameters<typeof listRollouts>[0], limit: number): Promise<Rollout[]> {
    const found: Rollout[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listRollouts(filter, limit, cursor);
      expect(page.items.length).toBeLessThanOrEqual(limit);
      found.push(...page.items);
      cursor = page.next_cursor ?? undefined;
      pages++;
    } while (cursor && pages < 200);
    return found;
  }

  it('creating a rollout again returns the stored one', async () => {
    const first = rollout();
    expect(await createRollout(first)).toEqual({ rollout: first, created: true });
    const again = await createRollout({ ...first, tag: 'other', status: 'cancelled', version: 7 });
    expect(again).toEqual({ rollout: first, created: false });
    expect(await getRollout(first.id)).toEqual(first);
  });

  it('a save at a stale version is refused and changes nothing', async () => {
    const original = rollout();
    await createRollout(original);
    const cancelled = { ...original, status: 'cancelled' as const, status_reason: 'by admin', version: 2, updated_at: at(2) };
    expect(await saveRollout(cancelled)).toBe(true);

    const stale = { ...original, status: 'rolled_back' as const, version: 2, updated_at: at(3) };
    expect(await saveRollout(stale)).toBe(false);
    expect(await saveRollout({ ...original, version: 1 })).toBe(false);
    expect(await getRollout(original.id)).toEqual(cancelled);

    // A rollout that does not exist is not created by a save.
    const missing = rollout({ version: 1 });
    expect(await saveRollout(missing)).toBe(false);
    expect(await getRollout(missing.id)).toBeUndefined();
  });

  it('lists newest first, a page at a time', async () => {
    const mine = [3, 1, 4, 2, 5].map((day) => rollout({ created_at: `2031-03-0${day}T00:00:00.000Z` }));
    for (const r of mine) await createRollout(r);

    const listed = await everyRollout({}, 2);
    const createdAts = listed.map((r) => r.created_at);
    expect(createdAts).toEqual([...createdAts].sort().reverse());
    expect(new Set(listed.map((r) => r.id)).size).toBe(listed.length);
    const ids = new Set(mine.map((r) => r.id));
    expect(listed.filter((r) => ids.has(r.id))).toEqual([...mine].sort((a, b) => b.created_at.localeCompare(a.created_at)));
  });

  it('lists by status, following status changes', async () => {
    const r = rollout({ status: 'pending', created_at: '2031-04-01T00:00:00.000Z' });
    await createRollout(r);
    const idsWith = async (status: RolloutStatus) => (await everyRollout({ status }, 3)).map((x) => x.id);

    expect(await idsWith('pending')).toContain(r.id);
    expect(await idsWith('paused')).not.toContain(r.id);

    const moved: Rollout = { ...r, status: 'paused', version: 2 };
    expect(await saveRollout(moved)).toBe(true);
    expect(await idsWith('pending')).not.toContain(r.id);
    expect(await idsWith('paused')).toContain(r.id);
    const byStatus = await everyRollout({ status: 'paused' }, 100);
    expect(byStatus.find((x) => x.id === r.id)).toEqual(moved);
    expect(byStatus.every((x) => x.status === 'paused')).toBe(true);
  });

  it('filters by repository or full image name, also with a status', async () => {
    const repository = `acme/filtered-${randomUUID().slice(0, 8)}`;
    const v2 = rollout({ repository, tag: 'v2', created_at: '2031-05-01T00:00:00.000Z' });
    const v3 = rollout({ repository, tag: 'v3', created_at: '2031-05-02T00:00:00.000Z', status: 'cancelled' });
    await createRollout(v2);
    await createRollout(v3);
    await createRollout(rollout({ created_at: '2031-05-03T00:00:00.000Z' }));

    expect((await everyRollout({ image_name: repository }, 2)).map((r) => r.id)).toEqual([v3.id, v2.id]);
    expect((await everyRollout({ image_name: `${repository}:v2` }, 2)).map((r) => r.id)).toEqual([v2.id]);
    expect((await everyRollout({ image_name: repository, status: 'cancelled' }, 2)).map((r) => r.id)).toEqual([v3.id]);
    expect(await everyRollout({ image_name: `${repository}:v9` }, 50)).toEqual([]);
  });

  it('fills a filtered page past the items the filter drops', async () => {
    const repository = `acme/buried-${randomUUID().slice(0, 8)}`;
    const wanted = [1, 2, 3].map((i) => rollout({ repository, tag: `v${i}`, created_at: `2032-01-0${i}T00:00:00.000Z` }));
    for (const r of wanted) await createRollout(r);
    // Newer rollouts of other images come first in the listing.
    for (let i = 0; i < 6; i++) await createRollout(rollout({ created_at: `2032-02-0${i + 1}T00:00:00.000Z` }));
    const first = await listRollouts({ image_name: repository }, 2);
    expect(first.items.map((r) => r.id)).toEqual([wanted[2]!.id, wanted[1]!.id]);
    const second = await listRollouts({ image_name: repository }, 2, first.next_cursor!);
    expect(second.items.map((r) => r.id)).toEqual([wanted[0]!.id]);
  });

  it('rejects a cursor of another listing', async () => {
    for (let i = 0; i < 3; i++) await createRollout(rollout());
    const page = await listRollouts({}, 1);
    expect(page.next_cursor).not.toBeNull();
    await expect(listRollouts({ status: 'paused' }, 1, page.next_cursor!)).rejects.toBeInstanceOf(Invalid);
    await expect(listRollouts({}, 1, 'not a cursor')).rejects.toBeInstanceOf(Invalid);
  });

  it('yields every rollout of a status', async () => {
    const mine = Array.from({ length: 5 }, (_, i) => rollout({ status: 'in_progress', created_at: `2031-06-0${i + 1}T00:00:00.000Z` }));
    for (const r of mine) await createRollout(r);
    const yielded: Rollout[] = [];
    for await (const r of rolloutsWithStatus('in_progress')) yielded.push(r);
    expect(yielded.every((r) => r.status === 'in_progress')).toBe(true);
    const ids = new Set(mine.map((r) => r.id));
    expect(yielded.filter((r) => ids.has(r.id))).toEqual(mine);
  });
});

// ---------------------------------------------------------------------------------------------

describe('devices', () => {
  const pointer = (rolloutId: string): RolloutPointer => ({ rollout_id: rolloutId, shard: 2, seq: 17, batch: 1, image: 'acme/app:v2' });

  it('refuses a second device with the same uuid', async () => {
    const device = storedDevice();
    await putNewDevice(device, []);
    await expect(putNewDevice({ ...device, name: 'impostor' }, [])).rejects.toBeInstanceOf(Conflict);
    expect((await getStoredDevice(device.uuid, true))!.name).toBe('edge-gateway');
  });

  it("fences a target a rollback found unset, so the rollout's write still on its way fails", async () => {
    const device = storedDevice({ target_apps: [{ name: 'app', image: 'acme/app:v1' }] });
    await putNewDevice(device, []);
    const rank = `${at(2)}|${at(2)}|ro-reverted`;
    const slow = { app: 'app', from: 'acme/app:v1', to: 'acme/app:v2', version: 1 };
    // Fenced at the version it was read at: the image stays, the rollout's rank and row are noted.
    expect(await fenceRolloutTarget(device.uuid, 0, 'app', rank, 17, 1, at(3))).toBe(true);
    let stored = (await getStoredDevice(device.uuid, true))!;
    expect(stored).toMatchObject({ target_version: 2, target_apps: [{ name: 'app', image: 'acme/app:v1' }], target_set_by: { app: rank }, target_set_seq: { app: 17 } });
    // The write the rollout sent before the revert (it read the device at version 1) now fails.
    expect(await setRolloutTarget(device.uuid, 0, slow, rank, pointer(randomUUID()), at(4))).toBe(false);
    // A fence again, at a stale version or once fenced, changes nothing.
    expect(await fenceRolloutTarget(device.uuid, 0, 'app', rank, 17, 1, at(5))).toBe(false);
    expect(await fenceRolloutTarget(device.uuid, 0, 'app', rank, 17, 2, at(5))).toBe(false);
    // Nor does a fence of an older rollout where a newer one has the app.
    expect(await fenceRolloutTarget(device.uuid, 0, 'app', `${at(1)}|${at(1)}|ro-older`, 3, 2, at(5))).toBe(false);
    stored = (await getStoredDevice(device.uuid, true))!;
    expect(stored).toMatchObject({ target_version: 2, target_apps: [{ name: 'app', image: 'acme/app:v1' }], target_set_by: { app: rank }, updated_at: at(3) });
  });

  it('moves a target for a rollout unless a newer rollout set it, and restores only what that rollout set', async () => {
    const device = storedDevice({
      target_apps: [
        { name: 'proxy', image: 'acme/proxy:v1' },
        { name: 'app', image: 'acme/app:v1' },
      ],
    });
    await putNewDevice(device, []);
    const rolloutId = randomUUID();
    const older = `${at(1)}|${at(1)}|ro-older`;
    const newer = `${at(2)}|${at(2)}|ro-newer`;
    const forward = { app: 'app', from: 'acme/app:v1', to: 'acme/app:v2', version: 1 };

    expect(await setRolloutTarget(device.uuid, 1, forward, newer, pointer(rolloutId), at(1))).toBe(true);
    let stored = (await getStoredDevice(device.uuid, true))!;
    expect(stored.target_version).toBe(2);
    // Registered without the map of row sequence numbers (as devices were before it was kept): it gets one.
    expect(stored.target_set_seq).toEqual({ app: 17 });
    expect(stored.target_apps).toEqual([
      { name: 'proxy', image: 'acme/proxy:v1' },
      { name: 'app', image: 'acme/app:v2' },
    ]);
    expect(stored.rollouts).toEqual({ app: { ...pointer(rolloutId), target_version: 2 } });
    expect(stored.target_set_by).toEqual({ app: newer });
    expect(stored.updated_at).toBe(at(1));

    // An older push's rollout, arriving late, cannot take the app back.
    expect(await setRolloutTarget(device.uuid, 1, { app: 'app', from: 'acme/app:v2', to: 'acme/app:v1b', version: 2 }, older, pointer(randomUUID()), at(2))).toBe(false);
    // Nor undo the newer rollout's target.
    expect(await restoreRolloutTarget(device.uuid, 1, { app: 'app', from: 'acme/app:v2', to: 'acme/app:v1' }, older, at(2))).toBe(false);
    stored = (await getStoredDevice(device.uuid, true))!;
    expect(stored.target_version).toBe(2);
    expect(stored.target_apps[1]!.image).toBe('acme/app:v2');

    // The same image again (a tag pushed anew): the version, and so the ETag, still moves.
    expect(await setRolloutTarget(device.uuid, 1, { app: 'app', from: 'acme/app:v2', to: 'acme/app:v2', version: 2 }, `${at(3)}|${at(3)}|ro-again`, pointer(rolloutId), at(3))).toBe(true);
    // A write based on a stale read of the device does not apply.
    expect(await setRolloutTarget(device.uuid, 1, { app: 'app', from: 'acme/app:v2', to: 'acme/app:v2', version: 2 }, `${at(3)}|${at(3)}|ro-again`, pointer(rolloutId), at(3))).toBe(false);
    expect((await getStoredDevice(device.uuid, true))!.target_version).toBe(3);

    // The index must name the app: a mismatch writes nothing.
    expect(await setRolloutTarget(device.uuid, 0, { app: 'app', from: 'acme/app:v2', to: 'acme/app:v3', version: 3 }, `${at(4)}|x`, pointer(rolloutId), at(4))).toBe(false);
    expect((await getStoredDevice(device.uuid, true))!.target_apps[0]).toEqual({ name: 'proxy', image: 'acme/proxy:v1' });

    // Back to the previous image by the rollout that set it, leaving the rollout.
    expect(await restoreRolloutTarget(device.uuid, 1, { app: 'app', from: 'acme/app:v2', to: 'acme/app:v1' }, `${at(3)}|${at(3)}|ro-again`, at(5))).toBe(true);
    stored = (await getStoredDevice(device.uuid, true))!;
    expect(stored.target_version).toBe(4);
    expect(stored.target_apps[1]).toEqual({ name: 'app', image: 'acme/app:v1' });
    expect(stored.rollouts).toEqual({});

    // A device that does not exist is not created.
    const ghost = randomUUID();
    expect(await setRolloutTarget(ghost, 0, forward, newer, pointer(rolloutId), at(6))).toBe(false);
    expect(await getStoredDevice(ghost, true)).toBeUndefined();
  });

  it('clears a rollout pointer only for the rollout named', async () => {
    const rolloutId = randomUUID();
    const device = storedDevice({ rollouts: { app: pointer(rolloutId), other: pointer(randomUUID()) } });
    await putNewDevice(device, []);

    await clearRolloutPointer(device.uuid, 'app', randomUUID());
    expect((await getStoredDevice(device.uuid, true))!.rollouts).toEqual(device.rollouts);

    await clearRolloutPointer(device.uuid, 'app', rolloutId);
    expect((await getStoredDevice(device.uuid, true))!.rollouts).toEqual({ other: device.rollouts.other });

    // Again, or on an app without a pointer, or on an unknown device: nothing happens.
    await clearRolloutPointer(device.uuid, 'app', rolloutId);
    await clearRolloutPointer(randomUUID(), 'app', rolloutId);
    expect((await getStoredDevice(device.uuid, true))!.rollouts).toEqual({ other: device.rollouts.other });
  });

  it("keeps a pending request to join the first change's labels, and removes it only for the latest change", async () => {
    const device = storedDevice({ labels: { ring: 'a' } });
    await putNewDevice(device, []);
    // A label change whose joins were not sent, then another before anything was sent.
    const first = await updateDeviceFields(device, { labels: { ring: 'b' } }, at(1), { labels_before: { ring: 'a' } });
    expect(first).toMatchObject({ joins_pending: { labels_before: { ring: 'a' } }, joins_pending_at: at(1) });
    const second = await updateDeviceFields(first!, { labels: { ring: 'c' } }, at(2), { labels_before: { ring: 'b' } });
    expect(second).toMatchObject({ labels: { ring: 'c' }, joins_pending: { labels_before: { ring: 'a' } }, joins_pending_at: at(2) });
    // The first change's sender is done: the second's request is still to be sent.
    expect(await clearPendingJoins(device.uuid, at(1))).toBe(false);
    expect((await getStoredDevice(device.uuid, true))!.joins_pending_at).toBe(at(2));
    expect(await clearPendingJoins(device.uuid, at(2))).toBe(true);
    const cleared = (await getStoredDevice(device.uuid, true))!;
    expect(cleared).not.toHaveProperty('joins_pending');
    expect(cleared).not.toHaveProperty('joins_pending_at');
    // A report's label change records one too; the device as shown never has it.
    const reported = await recordCurrentState(cleared, { apps: [], labels: { ring: 'd' }, joinsPending: { labels_before: { ring: 'c' } } }, at(3));
    expect(reported).toMatchObject({ joins_pending: { labels_before: { ring: 'c' } }, joins_pending_at: at(3) });
    expect(publicDevice(reported)).not.toHaveProperty('joins_pending');
    expect(publicDevice(reported)).not.toHaveProperty('joins_pending_at');
    expect(await clearPendingJoins(randomUUID(), at(3))).toBe(false);
  });

  it('lists every device a page at a time, in full and without its token hash', async () => {
    const mine = Array.from({ length: 7 }, (_, i) => storedDevice({ name: `listed-${i}`, ip_address: `10.0.0.${i}` }));
    for (const d of mine) await putNewDevice(d, []);

    const listed: ReturnType<typeof publicDevice>[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listDevices(3, cursor);
      expect(page.items.length).toBeLessThanOrEqual(3);
      listed.push(...page.items);
      cursor = page.next_cursor ?? undefined;
      pages++;
    } while (cursor && pages < 200);

    const uuids = listed.map((d) => d.uuid);
    expect(new Set(uuids).size).toBe(uuids.length);
    expect(uuids).toEqual([...uuids].sort());
    for (const device of mine) {
      const found = listed.find((d) => d.uuid === device.uuid);
      expect(found).toEqual(publicDevice(device));
      expect(found).not.toHaveProperty('token_hash');
    }
    await expect(listDevices(3, 'bm90IGEga2V5')).rejects.toBeInstanceOf(Invalid);
  });

  it('finds the devices running a repository, a page at a time', async () => {
    const repository = `acme/members-${randomUUID().slice(0, 8)}`;
    const devices = Array.from({ length: 5 }, () => storedDevice());
    for (const d of devices) await putNewDevice(d, [{ repository, app: 'app' }]);
    // One device runs the repository in two apps, and something else besides.
    const twice = storedDevice();
    await putNewDevice(twice, [
      { repository, app: 'blue' },
      { repository, app: 'green' },
      { repository: `${repository}-other`, app: 'sidecar' },
    ]);

    const members: { device_uuid: string; app: string }[] = [];
    let startKey: Record<string, unknown> | undefined;
    let pages = 0;
    do {
      const page = await listRepositoryMembers(repository, 2, startKey);
      expect(page.members.length).toBeLessThanOrEqual(2);
      members.push(...page.members);
      startKey = page.lastKey;
      pages++;
    } while (startKey && pages < 50);

    const expected = [
      ...devices.map((d) => ({ device_uuid: d.uuid, app: 'app' })),
      { device_uuid: twice.uuid, app: 'blue' },
      { device_uuid: twice.uuid, app: 'green' },
    ];
    const byKey = (a: { device_uuid: string; app: string }, b: { device_uuid: string; app: string }) =>
      a.device_uuid.localeCompare(b.device_uuid) || a.app.localeCompare(b.app);
    expect([...members].sort(byKey)).toEqual(expected.sort(byKey));
    expect(await countRepositoryMembers(repository)).toBe(7);
    expect(await countRepositoryMembers(`${repository}-other`)).toBe(1);
    expect(await countRepositoryMembers(`${repository}-none`)).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------

describe('deliveries and admin keys', () => {
  it('lets exactly one copy of a delivery claim it, and keeps it seven days', async () => {
    const push = { registry: 'docker-registry', repository: 'acme/app', tag: 'v2', pushed_at: at(1), delivery_id: randomUUID() };
    const copies = await Promise.all(
      Array.from({ length: 8 }, (_, i) => claimDelivery({ registry: push.registry, delivery_id: push.delivery_id, push: { ...push, pushed_at: at(i + 1) }, received_at: at(i + 1) })),
    );
    expect(copies.filter((c) => c.claimed)).toHaveLength(1);
    // Every copy agrees on the winner's push.
    const winner = copies.find((c) => c.claimed)!.delivery.push;
    for (const copy of copies) expect(copy.delivery.push).toEqual(winner);

    await recordDeliveryOutcome(push.registry, push.delivery_id, { rollout_id: 'ro-1' });
    const again = await claimDelivery({ registry: push.registry, delivery_id: push.delivery_id, push, received_at: at(9) });
    expect(again).toMatchObject({ claimed: false, delivery: { outcome: { rollout_id: 'ro-1' } } });
    const { Item } = await dynamo().send(new GetCommand({ TableName: host.tableName, Key: { pk: `DELIVERY#${push.registry}#${push.delivery_id}`, sk: 'DELIVERY' } }));
    expect(Item!.expires_at).toBe(Math.floor(Date.parse(again.delivery.received_at) / 1000) + 7 * 24 * 3600);
    // Deliveries of other registries are kept apart.
    expect((await claimDelivery({ registry: 'github', delivery_id: push.delivery_id, push, received_at: at(1) })).claimed).toBe(true);
  });

  it('recognises stored admin keys only', async () => {
    const key = `fra_${randomUUID()}`;
    expect(await isAdminKey(key)).toBe(false);
    await ensureAdminKey(key, 'ci');
    await ensureAdminKey(key, 'ci');
    expect(await isAdminKey(key)).toBe(true);
    expect(await isAdminKey(`${key}x`)).toBe(false);
    expect(await isAdminKey(host.adminApiKey)).toBe(true);
    // A configured key is a principal by the fixed id of configured keys, under the name it was stored with.
    expect(await adminPrincipalOf(key)).toEqual({ key_id: 'host', name: 'ci' });
    await expect(ensureAdminKey(`fra_${'0'.repeat(26)}.${'a'.repeat(43)}`)).rejects.toThrow(/must not look like a named one/);
  });
});
