/** Rollout items. Every change is a whole-item write conditioned on the version it was read at. */
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../aws-clients';
import type { Rollout, RolloutStatus } from '../domain/types';
import { indexes, keys } from './keys';
import { decodeKeyCursor, encodeCursor, entityOf, isConditionFailed, tableName, type Page } from './table';

function item(rollout: Rollout) {
  return {
    ...keys.rollout(rollout.id),
    ...keys.rolloutListing(rollout.created_at, rollout.id),
    ...keys.rolloutStatusListing(rollout.status, rollout.created_at, rollout.id),
    ...rollout,
  };
}

/** Creates the rollout unless it exists already; either way returns the stored one. */
export async function createRollout(rollout: Rollout): Promise<{ rollout: Rollout; created: boolean }> {
  try {
    await dynamo().send(
      new PutCommand({ TableName: tableName(), Item: item(rollout), ConditionExpression: 'attribute_not_exists(pk)' }),
    );
    return { rollout, created: true };
  } catch (error) {
    if (!isConditionFailed(error)) throw error;
    const existing = await getRollout(rollout.id);
    if (!existing) throw error;
    return { rollout: existing, created: false };
  }
}

export async function getRollout(id: string): Promise<Rollout | undefined> {
  const { Item } = await dynamo().send(
    new GetCommand({ TableName: tableName(), Key: keys.rollout(id), ConsistentRead: true }),
  );
  return Item ? entityOf<Rollout>(Item) : undefined;
}

/**
 * Writes `next` if the stored rollout is still at `next.version - 1`. Returns false when someone
 * else changed it first; the caller re-reads and decides again.
 */
export async function saveRollout(next: Rollout): Promise<boolean> {
  try {
    await dynamo().send(
      new PutCommand({
        TableName: tableName(),
        Item: item(next),
        ConditionExpression: 'version = :expected',
        ExpressionAttributeValues: { ':expected': next.version - 1 },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailed(error)) return false;
    throw error;
  }
}

export interface RolloutFilter {
  status?: RolloutStatus;
  image_name?: string;
}

/** Newest first. `image_name` matches the repository or the full image. */
export async function listRollouts(filter: RolloutFilter, limit: number, cursor?: string): Promise<Page<Rollout>> {
  const index = filter.status ? indexes.byStatus : indexes.byKind;
  const partition = filter.status ? keys.rolloutStatusPk(filter.status) : keys.rolloutListPk;
  const values: Record<string, unknown> = { ':pk': partition };
  let filterExpression: string | undefined;
  if (filter.image_name) {
    filterExpression = '#repository = :image OR #image = :image';
    values[':image'] = filter.image_name;
  }
  const result = await dynamo().send(
    new QueryCommand({
      TableName: tableName(),
      IndexName: index.name,
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': index.pk, ...(filterExpression ? { '#repository': 'repository', '#image': 'image' } : {}) },
      ExpressionAttributeValues: values,
      FilterExpression: filterExpression,
      ScanIndexForward: false,
      Limit: limit,
      ExclusiveStartKey: decodeKeyCursor(cursor, { [index.pk]: partition }),
    }),
  );
  return {
    items: (result.Items ?? []).map((i) => entityOf<Rollout>(i)),
    next_cursor: encodeCursor(result.LastEvaluatedKey),
  };
}

/** Every rollout in one status, oldest first (the tick walks these). */
export async function* rolloutsWithStatus(status: RolloutStatus): AsyncGenerator<Rollout> {
  const index = indexes.byStatus;
  let startKey: Record<string, unknown> | undefined;
  do {
    const result = await dynamo().send(
      new QueryCommand({
        TableName: tableName(),
        IndexName: index.name,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': index.pk },
        ExpressionAttributeValues: { ':pk': keys.rolloutStatusPk(status) },
        ExclusiveStartKey: startKey,
      }),
    );
    for (const i of result.Items ?? []) yield entityOf<Rollout>(i);
    startKey = result.LastEvaluatedKey;
  } while (startKey);
}
