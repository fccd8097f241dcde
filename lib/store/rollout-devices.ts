/**
 * The devices of a rollout and their batch counters. A row's status moves by a conditional update
 * on the statuses it may come from; only a transition that happened adds to the counters, and the
 * counters carry a revision so that a recount never overwrites a concurrent transition.
 */
import pMap from 'p-map';
import { BatchWriteCommand, DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../aws-clients';
import { joinedSeqBase, type SeqRange } from '../domain/batch-plan';
import { addCounts, countsAsFailure, emptyCounts, failureStatuses } from '../domain/rollout-progress';
import type { BatchCounts, DeviceRolloutStatus, RolloutDevice } from '../domain/types';
import { deviceRolloutStatuses } from '../domain/types';
import { decodeCursor, encodeCursor, hasExactly, isRecord, type CursorShape } from './cursor';
import { keys } from './keys';
import { conditionally, entityOf, resultUnlessConditionFailed, tableName } from './table';

export interface RowRef {
  rollout_id: string;
  shard: number;
  seq: number;
}

/** Records planned rows, a few batch writes at once. */
export async function putRolloutDevices(rows: RolloutDevice[]): Promise<void> {
  const items = rows.map((row) => ({ ...keys.rolloutDevice(row.rollout_id, row.shard, row.seq), ...row }));
  const chunks = Array.from({ length: Math.ceil(items.length / 25) }, (_, i) => items.slice(i * 25, i * 25 + 25));
  await pMap(
    chunks,
    async (chunk) => {
      let request: Record<string, unknown[]> | undefined = { [tableName()]: chunk.map((Item) => ({ PutRequest: { Item } })) };
      while (request && Object.keys(request).length > 0) {
        const result = await dynamo().send(new BatchWriteCommand({ RequestItems: request as never }));
        request = result.UnprocessedItems as typeof request;
      }
    },
    { concurrency: 4 },
  );
}

export async function getRolloutDevice(ref: RowRef): Promise<RolloutDevice | undefined> {
  const { Item } = await dynamo().send(
    new GetCommand({ TableName: tableName(), Key: keys.rolloutDevice(ref.rollout_id, ref.shard, ref.seq), ConsistentRead: true }),
  );
  return Item ? entityOf<RolloutDevice>(Item) : undefined;
}

/**
 * The rows of one device in a rollout (one per app of the rollout's repository): a filtered read
 * of its whole shard. Only an admin's rollback of one device asks, rarely enough that an item per
 * row to find it by, written for every device of every rollout, would cost far more.
 */
export async function findRolloutDevice(rolloutId: string, shard: number, uuid: string): Promise<RolloutDevice[]> {
  const rows: RolloutDevice[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const result = await dynamo().send(
      new QueryCommand({
        TableName: tableName(),
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        FilterExpression: 'device_uuid = :uuid',
        ExpressionAttributeValues: { ':pk': keys.rolloutShardPk(rolloutId, shard), ':prefix': keys.rolloutDevicesPrefix, ':uuid': uuid },
        ExclusiveStartKey: startKey,
        ConsistentRead: true,
      }),
    );
    rows.push(...(result.Items ?? []).map((item) => entityOf<RolloutDevice>(item)));
    startKey = result.LastEvaluatedKey;
  } while (startKey);
  return rows;
}

/**
 * Deletes the planned rows at sequence numbers from `firstUnused` on: a planning
 * attempt that crashed before its save wrote them, and the attempt that then planned the page
 * found fewer devices to include. Nothing else refers to them: no batch reaches that far. Rows of
 * devices that joined later are numbered above every planned one and are left alone.
 */
export async function deleteRowsFrom(rolloutId: string, shard: number, firstUnused: number): Promise<number> {
  let deleted = 0;
  for await (const row of rowsInRange(rolloutId, shard, firstUnused, joinedSeqBase - firstUnused)) {
    await dynamo().send(new DeleteCommand({ TableName: tableName(), Key: keys.rolloutDevice(rolloutId, shard, row.seq) }));
    deleted++;
  }
  return deleted;
}

/** Deletes one row, if it is there. */
export async function deleteRow(ref: RowRef): Promise<void> {
  await dynamo().send(new DeleteCommand({ TableName: tableName(), Key: keys.rolloutDevice(ref.rollout_id, ref.shard, ref.seq) }));
}

/** One page of a shard's rows with sequence numbers in [firstSeq, firstSeq + size). */
export async function queryRowsInRange(
  rolloutId: string,
  shard: number,
  firstSeq: number,
  size: number,
  limit: number,
  startKey?: Record<string, unknown>,
): Promise<{ rows: RolloutDevice[]; lastKey?: Record<string, unknown> }> {
  const range = keys.seqRange(firstSeq, size);
  const result = await dynamo().send(
    new QueryCommand({
      TableName: tableName(),
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
      ExpressionAttributeValues: { ':pk': keys.rolloutShardPk(rolloutId, shard), ':from': range.from, ':to': range.to },
      Limit: limit,
      ExclusiveStartKey: startKey,
      ConsistentRead: true,
    }),
  );
  return {
    rows: (result.Items ?? []).map((i) => entityOf<RolloutDevice>(i)),
    ...(result.LastEvaluatedKey ? { lastKey: result.LastEvaluatedKey } : {}),
  };
}

/**
 * One page of a shard's rows in several sequence ranges (a batch's planned devices, then those
 * that joined it), in order. The page goes on into the next range when one ends before the page
 * is full, so a start key from any page of it resumes where that page stopped.
 */
export async function queryRowsInRanges(
  rolloutId: string,
  shard: number,
  ranges: readonly SeqRange[],
  limit: number,
  startKey?: Record<string, unknown>,
): Promise<{ rows: RolloutDevice[]; lastKey?: Record<string, unknown> }> {
  const after = startKey && typeof startKey.sk === 'string' ? keys.seqOfRolloutDeviceSk(startKey.sk) : -1;
  const rows: RolloutDevice[] = [];
  for (const range of ranges) {
    if (range.size <= 0 || range.first_seq + range.size - 1 <= after) continue;
    const from = after >= range.first_seq ? startKey : undefined;
    const page = await queryRowsInRange(rolloutId, shard, range.first_seq, range.size, limit - rows.length, from);
    rows.push(...page.rows);
    if (page.lastKey) return { rows, lastKey: page.lastKey };
    if (rows.length >= limit) {
      const last = rows[rows.length - 1]!;
      return { rows, lastKey: keyAfter(last) };
    }
  }
  return { rows };
}

/** Every row of a shard in the given sequence ranges (see `queryRowsInRanges`). */
export async function* rowsInRanges(rolloutId: string, shard: number, ranges: readonly SeqRange[]): AsyncGenerator<RolloutDevice> {
  for (const range of ranges) yield* rowsInRange(rolloutId, shard, range.first_seq, range.size);
}

/** The start key (as `queryRowsInRange` takes it) of the rows after `row` in its shard. */
export function keyAfter(row: RowRef): Record<string, unknown> {
  return keys.rolloutDevice(row.rollout_id, row.shard, row.seq);
}

/** Every row of a shard in a sequence range, for recounts and time-outs. */
export async function* rowsInRange(rolloutId: string, shard: number, firstSeq: number, size: number): AsyncGenerator<RolloutDevice> {
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await queryRowsInRange(rolloutId, shard, firstSeq, size, 500, startKey);
    yield* page.rows;
    startKey = page.lastKey;
  } while (startKey);
}

/**
 * Moves a row to `to` if its status is one of `from`. Returns the status it came from, or
 * undefined when the row was not in one of them (already moved: the caller's work is done).
 */
export async function transitionRolloutDevice(
  ref: RowRef,
  from: readonly DeviceRolloutStatus[],
  to: DeviceRolloutStatus,
  fields: { batch: number; at: string; error?: string; extra?: Record<string, unknown> },
): Promise<DeviceRolloutStatus | undefined> {
  const values: Record<string, unknown> = { ':to': to, ':at': fields.at, ':batch': fields.batch };
  from.forEach((status, i) => (values[`:from${i}`] = status));
  let update = '#status = :to, updated_at = :at, #batch = :batch';
  if (fields.error !== undefined) {
    update += ', #error = :error';
    values[':error'] = fields.error;
  }
  // Marks the row a failure for good, so that a recount still counts it once it is rolled back.
  if (failureStatuses.includes(to)) update += ', failed_at = if_not_exists(failed_at, :at)';
  for (const [name, value] of Object.entries(fields.extra ?? {})) {
    update += `, ${name} = :${name}`;
    values[`:${name}`] = value;
  }
  const result = await resultUnlessConditionFailed(
    dynamo().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.rolloutDevice(ref.rollout_id, ref.shard, ref.seq),
        UpdateExpression: `SET ${update}`,
        ConditionExpression: `#status IN (${from.map((_, i) => `:from${i}`).join(', ')})`,
        ExpressionAttributeNames: { '#status': 'status', '#batch': 'batch', ...(fields.error !== undefined ? { '#error': 'error' } : {}) },
        ExpressionAttributeValues: values,
        ReturnValues: 'UPDATED_OLD',
      }),
    ),
  );
  return result?.Attributes?.status as DeviceRolloutStatus | undefined;
}

/**
 * Schedules a failed or unhealthy row again for its attempt `attempt` (2, 3, …): back to
 * `scheduled`, no longer a failure (why it failed kept as `last_error`). Conditioned on the row
 * still failed from attempt `attempt - 1`, so a retry repeated after a crash moves it once. The
 * status it left, or undefined when it had moved on.
 */
export async function retryRolloutDevice(ref: RowRef, attempt: number, at: string, lastError: string): Promise<DeviceRolloutStatus | undefined> {
  const previous = attempt - 1;
  const result = await resultUnlessConditionFailed(
    dynamo().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.rolloutDevice(ref.rollout_id, ref.shard, ref.seq),
        UpdateExpression: 'SET #status = :scheduled, updated_at = :at, scheduled_at = :at, attempts = :attempt, last_error = :last_error REMOVE failed_at, #error',
        ConditionExpression: `#status IN (:failed, :unhealthy) AND ${previous === 1 ? '(attribute_not_exists(attempts) OR attempts = :previous)' : 'attempts = :previous'}`,
        ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
        ExpressionAttributeValues: { ':scheduled': 'scheduled', ':failed': 'failed', ':unhealthy': 'unhealthy', ':at': at, ':attempt': attempt, ':previous': previous, ':last_error': lastError },
        ReturnValues: 'UPDATED_OLD',
      }),
    ),
  );
  return result?.Attributes?.status as DeviceRolloutStatus | undefined;
}

/** The image (and digest, or none) a device ran when it was scheduled, where it differs from what planning saw. */
export async function recordPreviousImage(ref: RowRef, image: string, digest?: string): Promise<void> {
  await dynamo().send(
    new UpdateCommand({
      TableName: tableName(),
      Key: keys.rolloutDevice(ref.rollout_id, ref.shard, ref.seq),
      UpdateExpression: `SET previous_image = :image${digest ? ', previous_digest = :digest' : ' REMOVE previous_digest'}`,
      ExpressionAttributeValues: { ':image': image, ...(digest ? { ':digest': digest } : {}) },
    }),
  );
}

/**
 * Counts transitions of one shard's rows in one batch with a single write to its counters. Rows
 * waiting in `pending` are not counted: a batch's counters hold only the devices it has reached.
 * A move into a failure status adds a failure, which no later move takes away. Returns the
 * shard's counts.
 */
export async function countTransitions(
  ref: Omit<RowRef, 'seq'>,
  batch: number,
  moves: readonly { from: DeviceRolloutStatus; to: DeviceRolloutStatus; at?: string }[],
): Promise<BatchCounts> {
  const deltas = new Map<string, number>([['revision', 1]]);
  const add = (attribute: string, n: number) => deltas.set(attribute, (deltas.get(attribute) ?? 0) + n);
  for (const { from, to } of moves) {
    add(to, 1);
    if (from !== 'pending') add(from, -1);
    if (failureStatuses.includes(to)) add('failures', 1);
    // A retry (failed or unhealthy, scheduled again) takes the failure back; a rollback keeps it.
    else if (failureStatuses.includes(from) && to !== 'rolled_back') add('failures', -1);
  }
  const changed = [...deltas].filter(([, n]) => n !== 0);
  const lastMoveAt = moves.reduce<string | undefined>((last, move) => (move.at !== undefined && (last === undefined || move.at > last) ? move.at : last), undefined);
  // When the shard's last move was, for the batch-advance latency (see `batchLastMoveAt`).
  const setLast = lastMoveAt !== undefined ? ` SET ${lastMoveAttribute} = :last` : '';
  const { Attributes } = await dynamo().send(
    new UpdateCommand({
      TableName: tableName(),
      Key: keys.batchCounters(ref.rollout_id, ref.shard, batch),
      UpdateExpression: `ADD ${changed.map((_, i) => `#a${i} :n${i}`).join(', ')}${setLast}`,
      ExpressionAttributeNames: Object.fromEntries(changed.map(([attribute], i) => [`#a${i}`, attribute])),
      ExpressionAttributeValues: { ...Object.fromEntries(changed.map(([, n], i) => [`:n${i}`, n])), ...(lastMoveAt !== undefined ? { ':last': lastMoveAt } : {}) },
      ReturnValues: 'ALL_NEW',
    }),
  );
  return countsOf(Attributes ?? {});
}

function countsOf(item: Record<string, unknown>): BatchCounts {
  const counts = emptyCounts();
  for (const status of deviceRolloutStatuses) counts[status] = Number(item[status] ?? 0);
  counts.failures = Number(item.failures ?? 0);
  return counts;
}

/** The counters' attribute holding the time of the last move counted in the shard's batch. */
const lastMoveAttribute = 'last_move_at';

/**
 * When the batch's last device settled: the latest move counted in any of its shards. Concurrent
 * counts in one shard may store an earlier move's time over a later one's (last write wins), so
 * this can be a little early; the count that settles a batch is usually its last write.
 */
export async function batchLastMoveAt(rolloutId: string, shardCount: number, batch: number): Promise<string | undefined> {
  let latest: string | undefined;
  for (let shard = 0; shard < shardCount; shard++) {
    const { Item } = await dynamo().send(
      new GetCommand({ TableName: tableName(), Key: keys.batchCounters(rolloutId, shard, batch), ProjectionExpression: lastMoveAttribute }),
    );
    const at = Item?.[lastMoveAttribute];
    if (typeof at === 'string' && (latest === undefined || at > latest)) latest = at;
  }
  return latest;
}

/** Counts of every batch of the rollout, keyed by batch number. */
export async function getAllBatchCounts(rolloutId: string, shardCount: number): Promise<Map<number, BatchCounts>> {
  const byBatch = new Map<number, BatchCounts>();
  for (let shard = 0; shard < shardCount; shard++) {
    const result = await dynamo().send(
      new QueryCommand({
        TableName: tableName(),
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': keys.rolloutShardPk(rolloutId, shard), ':prefix': keys.batchCountersPrefix },
        // Decisions are taken on these counts: read what the last transition wrote.
        ConsistentRead: true,
      }),
    );
    for (const item of result.Items ?? []) {
      const batch = keys.batchOfCounters(String(item.sk));
      byBatch.set(batch, addCounts(byBatch.get(batch) ?? emptyCounts(), countsOf(item)));
    }
  }
  return byBatch;
}

/**
 * Recounts one shard of a batch from its rows, and stores the result as its counters unless a
 * transition was counted meanwhile (then it counts again). Repairs counters after a crash fell
 * between a row's transition and its count, or a retry counted one twice.
 *
 * A row that moved but whose count has not landed yet looks just like a crash's lost count, and
 * storing a recount of it would count it twice once its add arrives. So with `settledBefore`, a
 * shard with a row moved after that time is not stored: its moves may still be on their way to
 * their counts, and a later recount, once the shard is quiet, repairs what a crash lost. `counts`
 * are the rows' statuses as read, stored or not: what a decision can rest on.
 */
export async function reconcileBatchShard(
  rolloutId: string,
  shard: number,
  batch: number,
  ranges: readonly SeqRange[],
  options: { settledBefore?: string } = {},
): Promise<{ counts: BatchCounts; stored: boolean }> {
  const key = keys.batchCounters(rolloutId, shard, batch);
  let last = emptyCounts();
  for (let attempt = 0; attempt < 5; attempt++) {
    const { Item } = await dynamo().send(new GetCommand({ TableName: tableName(), Key: key, ConsistentRead: true }));
    const revision = Number(Item?.revision ?? 0);
    const counts = emptyCounts();
    let settled = true;
    let lastMoveAt: string | undefined;
    for await (const row of rowsInRanges(rolloutId, shard, ranges)) {
      if (options.settledBefore !== undefined && row.updated_at > options.settledBefore) settled = false;
      if (row.status !== 'pending' && (lastMoveAt === undefined || row.updated_at > lastMoveAt)) lastMoveAt = row.updated_at;
      if (row.status !== 'pending') counts[row.status] += 1;
      if (countsAsFailure(row)) counts.failures += 1;
    }
    if (!settled) return { counts, stored: false };
    const stored = await conditionally(
      dynamo().send(
        new PutCommand({
          TableName: tableName(),
          Item: { ...key, rollout_id: rolloutId, shard, batch, ...counts, revision: revision + 1, ...(lastMoveAt !== undefined ? { [lastMoveAttribute]: lastMoveAt } : {}) },
          ConditionExpression: Item ? 'revision = :revision' : 'attribute_not_exists(pk)',
          ...(Item ? { ExpressionAttributeValues: { ':revision': revision } } : {}),
        }),
      ),
    );
    if (stored) return { counts, stored: true };
    last = counts;
  }
  // Moves kept landing while it counted: the shard is busy, and a later recount stores it. The
  // rows as last read still decide what they can (an evaluation never fails for this).
  return { counts: last, stored: false };
}

/** Where a listing of a rollout's devices goes on: a shard, and the last row read in it. */
interface RolloutDevicesPosition {
  shard: number;
  key?: { pk: string; sk: string };
}

function rolloutDevicesCursor(rolloutId: string, shardCount: number): CursorShape<RolloutDevicesPosition> {
  return (value): value is RolloutDevicesPosition => {
    if (!isRecord(value) || !hasExactly(value, ['shard'], ['key'])) return false;
    const shard = value.shard;
    if (typeof shard !== 'number' || !Number.isInteger(shard) || shard < 0 || shard >= shardCount) return false;
    if (!('key' in value)) return true;
    const key = value.key;
    return (
      isRecord(key) &&
      hasExactly(key, ['pk', 'sk']) &&
      key.pk === keys.rolloutShardPk(rolloutId, shard) &&
      typeof key.sk === 'string' &&
      keys.isRolloutDeviceSk(key.sk)
    );
  };
}

/** A page of a rollout's devices, in shard order then sequence order. */
export async function listRolloutDevices(
  rolloutId: string,
  shardCount: number,
  limit: number,
  cursor?: string,
): Promise<{ devices: RolloutDevice[]; next_cursor: string | null }> {
  const position = decodeCursor(cursor, rolloutDevicesCursor(rolloutId, shardCount));
  const devices: RolloutDevice[] = [];
  let shard = position?.shard ?? 0;
  let startKey: Record<string, unknown> | undefined = position?.key;
  while (shard < shardCount && devices.length < limit) {
    const result = await dynamo().send(
      new QueryCommand({
        TableName: tableName(),
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': keys.rolloutShardPk(rolloutId, shard), ':prefix': keys.rolloutDevicesPrefix },
        Limit: limit - devices.length,
        ExclusiveStartKey: startKey,
      }),
    );
    devices.push(...(result.Items ?? []).map((i) => entityOf<RolloutDevice>(i)));
    if (result.LastEvaluatedKey) {
      startKey = result.LastEvaluatedKey;
    } else {
      shard += 1;
      startKey = undefined;
    }
  }
  const next = shard < shardCount ? { shard, ...(startKey ? { key: startKey } : {}) } : null;
  return { devices, next_cursor: encodeCursor(next) };
}
