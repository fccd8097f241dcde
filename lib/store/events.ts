/**
 * The append-only event log of each rollout. An event's id is its time, the rollout version it
 * came with (ordering facts of the same millisecond) and a digest of what it is about, so
 * recording the same fact again (a retried message) finds the earlier write.
 *
 * Facts of one millisecond in one shard recorded together (a page of devices scheduled or
 * checked at once) are stored as one item, a pack: an event is a few hundred bytes and an item is
 * paid per kilobyte written, so a pack of a hundred costs a third of a hundred items. A pack's
 * sort key starts with that millisecond, which is all a listing needs to find it (it reads from
 * the start of a cursor's millisecond); a fact recorded twice in different packs (a retried page
 * that moved fewer rows) is listed once, by its id.
 */
import { createHash } from 'node:crypto';
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../aws-clients';
import { describeEvent } from '../domain/event-descriptions';
import type { EventType, RolloutEvent } from '../domain/types';
import { logger } from '../logger';
import { notifyRecorded } from '../notifications/recorded';
import { decodeCursor, encodeCursor, hasExactly, isRecord, type CursorShape } from './cursor';
import { keys } from './keys';
import { conditionally, entityOf, tableName } from './table';

export function eventId(timestamp: string, order: number, type: EventType, subject: string): string {
  const ms = String(Date.parse(timestamp)).padStart(13, '0');
  const digest = createHash('sha256').update(`${type}|${subject}`).digest('hex').slice(0, 12);
  return `${ms}-${String(order).padStart(6, '0')}-${digest}`;
}

export interface NewEvent {
  type: EventType;
  rollout_id: string;
  device_uuid?: string;
  timestamp: string;
  details?: Record<string, unknown>;
  /** What makes this fact unique within its rollout and type besides its time (batch, device…). */
  subject?: string;
  shard?: number;
  /** Orders facts of one millisecond: the rollout version that recorded a rollout-level fact, the attempt of a device's retry. */
  order?: number;
}

function storedEvent(event: NewEvent): RolloutEvent {
  return {
    id: eventId(event.timestamp, event.order ?? 0, event.type, `${event.subject ?? ''}|${event.device_uuid ?? ''}`),
    type: event.type,
    rollout_id: event.rollout_id,
    ...(event.device_uuid ? { device_uuid: event.device_uuid } : {}),
    timestamp: event.timestamp,
    details: event.details ?? {},
  };
}

/** The rollout's log, as lines an operator can follow. */
function logEvent(event: RolloutEvent): void {
  const { level, message, fields } = describeEvent(event);
  logger[level](message, fields);
}

export async function appendEvent(event: NewEvent): Promise<void> {
  const stored = storedEvent(event);
  await putEvent(stored, event.shard ?? 0);
  await notify([stored]);
}

/**
 * Hands the events just recorded, or found recorded by an earlier attempt, to the notifications
 * (lib/notifications/recorded.ts): after the write, so a crash in between is healed by the
 * caller's retry recording them again.
 */
async function notify(events: RolloutEvent[]): Promise<void> {
  await notifyRecorded(events);
}

async function putEvent(event: RolloutEvent, shard: number): Promise<void> {
  const written = await conditionally(
    dynamo().send(
      new PutCommand({
        TableName: tableName(),
        Item: { ...keys.event(event.rollout_id, shard, event.id), ...event },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    ),
  );
  // Recorded before (a retried message): it was logged then.
  if (written) logEvent(event);
}

/** Events in one pack at most: a pack stays far below DynamoDB's 400 KB item limit. */
const maxPackSize = 200;

/**
 * Records facts of one rollout, those of the same shard and millisecond as one pack (a fact
 * alone as an ordinary event). Recording the same facts again writes the same packs.
 */
export async function appendEvents(events: readonly NewEvent[]): Promise<void> {
  await writeEvents(events);
  await notify(events.map(storedEvent));
}

async function writeEvents(events: readonly NewEvent[]): Promise<void> {
  const groups = new Map<string, { shard: number; events: RolloutEvent[] }>();
  for (const event of events) {
    const stored = storedEvent(event);
    const key = `${event.rollout_id}|${event.shard ?? 0}|${stored.id.slice(0, 13)}`;
    const group = groups.get(key) ?? { shard: event.shard ?? 0, events: [] };
    group.events.push(stored);
    groups.set(key, group);
  }
  for (const { shard, events: group } of groups.values()) {
    group.sort((a, b) => a.id.localeCompare(b.id));
    for (let i = 0; i < group.length; i += maxPackSize) {
      const pack = group.slice(i, i + maxPackSize);
      if (pack.length === 1) {
        await putEvent(pack[0]!, shard);
        continue;
      }
      const first = pack[0]!;
      const packId = `${first.id.slice(0, 13)}-000000-${createHash('sha256').update(pack.map((e) => e.id).join('|')).digest('hex').slice(0, 12)}`;
      const written = await conditionally(
        dynamo().send(
          new PutCommand({
            TableName: tableName(),
            // The rollout is the item's; each event keeps the rest.
            Item: { ...keys.event(first.rollout_id, shard, packId), rollout_id: first.rollout_id, pack: pack.map(({ rollout_id: _, ...rest }) => rest) },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      );
      if (written) pack.forEach(logEvent);
    }
  }
}

const eventIdPattern = /^\d{13}-\d{6}-[0-9a-f]{12}$/;

/** Where an event listing goes on: the id of the last event of the previous page. */
const eventsCursor: CursorShape<{ after: string }> = (value): value is { after: string } =>
  isRecord(value) && hasExactly(value, ['after']) && typeof value.after === 'string' && eventIdPattern.test(value.after);

/**
 * Records those of `events` not recorded yet, looking for them in their millisecond of their
 * shard: for facts whose record a crash may have cut off, when recording them again blindly
 * would write every one of them again.
 */
export async function appendMissingEvents(events: readonly NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  const recorded = new Set<string>();
  const places = new Map<string, { rolloutId: string; shard: number; ms: string }>();
  for (const event of events) {
    const ms = storedEvent(event).id.slice(0, 13);
    places.set(`${event.rollout_id}|${event.shard ?? 0}|${ms}`, { rolloutId: event.rollout_id, shard: event.shard ?? 0, ms });
  }
  for (const { rolloutId, shard, ms } of places.values()) {
    for await (const event of shardEvents(rolloutId, shard, { from: ms, to: ms }, false, 100, true)) recorded.add(event.id);
  }
  await writeEvents(events.filter((event) => !recorded.has(storedEvent(event).id)));
  // All of them: one found recorded may be there because a crash cut off its send.
  await notify(events.map(storedEvent));
}

/**
 * Events in time order, merged across the rollout's shards, a page at a time; `newestFirst` reads
 * backwards from the end.
 */
export async function listEvents(
  rolloutId: string,
  shardCount: number,
  limit: number,
  options: { cursor?: string; newestFirst?: boolean } = {},
): Promise<{ events: RolloutEvent[]; next_cursor: string | null }> {
  const after = decodeCursor(options.cursor, eventsCursor)?.after;
  const newestFirst = options.newestFirst ?? false;
  // From the start (newest first: the end) of the cursor's millisecond: a pack of it may hold later facts.
  const ms = after?.slice(0, 13);
  const range = ms === undefined ? {} : newestFirst ? { to: ms } : { from: ms };
  // One more than the page from each shard tells whether another page follows.
  const perShard = await Promise.all(
    Array.from({ length: shardCount }, async (_, shard) => {
      const taken: RolloutEvent[] = [];
      for await (const event of shardEvents(rolloutId, shard, range, newestFirst, limit + 1)) {
        if (after !== undefined && (newestFirst ? event.id >= after : event.id <= after)) continue;
        taken.push(event);
        if (taken.length > limit) break;
      }
      return taken;
    }),
  );
  const merged = perShard.flat().sort((a, b) => (newestFirst ? b.id.localeCompare(a.id) : a.id.localeCompare(b.id)));
  const events = merged.slice(0, limit);
  const more = merged.length > limit;
  return { events, next_cursor: more ? encodeCursor({ after: events[events.length - 1]!.id }) : null };
}

/**
 * One shard's events with ids in the milliseconds `from` to `to` (13 digits, inclusive; open
 * when absent), in order, each once. Items come in sort-key order, and a pack's key only says its
 * millisecond: so the events of a millisecond are gathered, sorted and given out once an item of
 * another millisecond shows that none of it is left to come.
 */
async function* shardEvents(
  rolloutId: string,
  shard: number,
  range: { from?: string; to?: string },
  newestFirst: boolean,
  pageSize: number,
  /** Whether to read what the last write wrote (to tell what is missing), not just what is listed. */
  consistent = false,
): AsyncGenerator<RolloutEvent> {
  const pk = keys.rolloutShardPk(rolloutId, shard);
  const low = `${keys.eventPrefix}${range.from ?? ''}`;
  const high = `${keys.eventPrefix}${range.to ?? ''}~`;
  const order = (a: RolloutEvent, b: RolloutEvent) => (newestFirst ? b.id.localeCompare(a.id) : a.id.localeCompare(b.id));
  let held: RolloutEvent[] = [];
  let heldMs: string | undefined;
  function* release(): Generator<RolloutEvent> {
    held.sort(order);
    let last: string | undefined;
    for (const event of held) {
      if (event.id !== last) yield event;
      last = event.id;
    }
    held = [];
  }
  let startKey: Record<string, unknown> | undefined;
  do {
    const result = await dynamo().send(
      new QueryCommand({
        TableName: tableName(),
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :low AND :high',
        ExpressionAttributeValues: { ':pk': pk, ':low': low, ':high': high },
        ScanIndexForward: !newestFirst,
        Limit: pageSize,
        ExclusiveStartKey: startKey,
        ConsistentRead: consistent,
      }),
    );
    for (const item of result.Items ?? []) {
      const ms = String(item.sk).slice(keys.eventPrefix.length, keys.eventPrefix.length + 13);
      if (ms !== heldMs) {
        yield* release();
        heldMs = ms;
      }
      if (Array.isArray(item.pack)) held.push(...(item.pack as Omit<RolloutEvent, 'rollout_id'>[]).map((event) => ({ ...event, rollout_id: rolloutId })));
      else held.push(entityOf<RolloutEvent>(item));
    }
    startKey = result.LastEvaluatedKey;
  } while (startKey);
  yield* release();
}
