/** Rollout items. Every change is a whole-item write conditioned on the version it was read at. */
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../aws-clients';
import type { Rollout, RolloutStatus } from '../domain/types';
import { indexes, keys } from './keys';
import { entityOf, isConditionFailed, queryIndexPage, tableName, type Page } from './table';

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
 * Writes `next` if the stored rollout is still at `expected` (`next.version - 1` unless one write
 * records two facts, each with its own version). Returns false when someone else changed it first;
 * the caller re-reads and decides again.
 */
export async function saveRollout(next: Rollout, expected = next.version - 1): Promise<boolean> {
  try {
    await dynamo().send(
      new PutCommand({
        TableName: tableName(),
        Item: item(next),
        ConditionExpression: 'version = :expected',
        ExpressionAttributeValues: { ':expected': expected },
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
  const [index, partition] = filter.status
    ? [indexes.byStatus, keys.rolloutStatusPk(filter.status)]
    : [indexes.byKind, keys.rolloutListPk];
  const page = await queryIndexPage(index, partition, {
    limit,
    newestFirst: true,
    ...(cursor ? { cursor } : {}),
    ...(filter.image_name
      ? { filter: { expression: '#repository = :image OR #image = :image', names: { '#repository': 'repository', '#image': 'image' }, values: { ':image': filter.image_name } } }
      : {}),
  });
  return { items: page.items.map((i) => entityOf<Rollout>(i)), next_cursor: page.next_cursor };
}

/** Every rollout in one status, oldest first (the tick walks these). */
export async function* rolloutsWithStatus(status: RolloutStatus): AsyncGenerator<Rollout> {
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await queryIndexPage(indexes.byStatus, keys.rolloutStatusPk(status), startKey ? { startKey } : {});
    for (const item of page.items) yield entityOf<Rollout>(item);
    startKey = page.lastKey;
  } while (startKey);
}
