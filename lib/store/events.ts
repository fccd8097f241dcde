/**
 * The append-only event log of each rollout. An event's id is its time, the rollout version it
 * came with (ordering facts of the same millisecond) and a digest of what it is about, so
 * recording the same fact again (a retried message) finds the earlier write.
 */
import { createHash } from 'node:crypto';
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../aws-clients';
import { describeEvent } from '../domain/event-descriptions';
import type { EventType, RolloutEvent } from '../domain/types';
import { logger } from '../logger';
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
  /** The rollout version that recorded a rollout-level fact; orders facts of one millisecond. */
  order?: number;
}

export async function appendEvent(event: NewEvent): Promise<void> {
  const id = eventId(event.timestamp, event.order ?? 0, event.type, `${event.subject ?? ''}|${event.device_uuid ?? ''}`);
  const stored: RolloutEvent = {
    id,
    type: event.type,
    rollout_id: event.rollout_id,
    ...(event.device_uuid ? { device_uuid: event.device_uuid } : {}),
    timestamp: event.timestamp,
    details: event.details ?? {},
  };
  const written = await conditionally(
    dynamo().send(
      new PutCommand({
        TableName: tableName(),
        Item: { ...keys.event(event.rollout_id, event.shard ?? 0, id), ...stored },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    ),
  );
  // Recorded before (a retried message): it was logged then.
  if (!written) return;
  // The rollout's log, as lines an operator can follow.
  const { level, message, fields } = describeEvent(stored);
  logger[level](message, fields);
}

const eventIdPattern = /^\d{13}-\d{6}-[0-9a-f]{12}$/;

/** Where an event listing goes on: the id of the last event of the previous page. */
const eventsCursor: CursorShape<{ after: string }> = (value): value is { after: string } =>
  isRecord(value) && hasExactly(value, ['after']) && typeof value.after === 'string' && eventIdPattern.test(value.after);

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
  const perShard = await Promise.all(
    Array.from({ length: shardCount }, async (_, shard) => {
      const pk = keys.rolloutShardPk(rolloutId, shard);
      const bound = after ? `${keys.eventPrefix}${after}` : undefined;
      const [low, high] = newestFirst
        ? [keys.eventPrefix, bound ?? `${keys.eventPrefix}~`]
        : [bound ?? keys.eventPrefix, `${keys.eventPrefix}~`];
      const result = await dynamo().send(
        new QueryCommand({
          TableName: tableName(),
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :low AND :high',
          ExpressionAttributeValues: { ':pk': pk, ':low': low, ':high': high },
          ScanIndexForward: !newestFirst,
          // The bound is inclusive, so the cursor's own event may come back and is dropped below;
          // one more than the page must remain to tell whether another page follows.
          Limit: limit + (bound ? 2 : 1),
        }),
      );
      return (result.Items ?? []).map((i) => entityOf<RolloutEvent>(i)).filter((e) => e.id !== after);
    }),
  );
  const merged = perShard.flat().sort((a, b) => (newestFirst ? b.id.localeCompare(a.id) : a.id.localeCompare(b.id)));
  const events = merged.slice(0, limit);
  const more = merged.length > limit;
  return { events, next_cursor: more ? encodeCursor({ after: events[events.length - 1]!.id }) : null };
}
