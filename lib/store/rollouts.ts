/**
 * Rollout items. Every change is a whole-item write conditioned on the version it was read at.
 *
 * A change carries the events that record it in the same write (`outbox`); they are appended to
 * the rollout's log right after, and the outbox is cleared. A crash in between leaves them on the
 * item, and the next read appends them (their ids are fixed, so twice is once): a fact that
 * changed the rollout never loses its event (DESIGN §6, invariant 9).
 */
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../aws-clients';
import { rolloutRank } from '../domain/push-order';
import type { Rollout, RolloutStatus } from '../domain/types';
import { indexes, keys, listedKeys } from './keys';
import { countRolloutFacts } from '../metrics';
import { appendEvent, type NewEvent } from './events';
import { conditionally, entityOf, queryIndexPage, tableName, type Page } from './table';

function item(rollout: Rollout, outbox: NewEvent[] = []) {
  return {
    ...keys.rollout(rollout.id),
    ...keys.rolloutListing(rollout.created_at, rollout.id),
    ...keys.rolloutStatusListing(rollout.status, rollout.created_at, rollout.id),
    ...(rollout.sweep ? keys.rolloutSweepListing(rollout.id) : {}),
    ...rollout,
    ...(outbox.length > 0 ? { outbox } : {}),
  };
}

function rolloutOf(stored: Record<string, unknown>): Rollout {
  const { outbox, ...rest } = stored;
  return entityOf<Rollout>(rest);
}

/** Appends the events a change carried, then clears them from the item unless it has moved on. */
async function deliverOutbox(rolloutId: string, version: number, outbox: NewEvent[]): Promise<void> {
  for (const event of outbox) await appendEvent(event);
  await conditionally(
    dynamo().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.rollout(rolloutId),
        UpdateExpression: 'REMOVE outbox',
        ConditionExpression: 'version = :version',
        ExpressionAttributeValues: { ':version': version },
      }),
    ),
  );
}

/**
 * Creates the rollout, with the events of its creation in the same write, unless it exists
 * already; either way returns the stored one.
 */
export async function createRollout(rollout: Rollout, events: NewEvent[] = []): Promise<{ rollout: Rollout; created: boolean }> {
  const put = new PutCommand({ TableName: tableName(), Item: item(rollout, events), ConditionExpression: 'attribute_not_exists(pk)' });
  if (await conditionally(dynamo().send(put))) {
    if (events.length > 0) await deliverOutbox(rollout.id, rollout.version, events);
    return { rollout, created: true };
  }
  const existing = await getRollout(rollout.id);
  if (!existing) throw new Error(`rollout ${rollout.id} exists but cannot be read`);
  return { rollout: existing, created: false };
}

export async function getRollout(id: string): Promise<Rollout | undefined> {
  const { Item } = await dynamo().send(
    new GetCommand({ TableName: tableName(), Key: keys.rollout(id), ConsistentRead: true }),
  );
  if (!Item) return undefined;
  const outbox = (Item as { outbox?: NewEvent[] }).outbox;
  const rollout = rolloutOf(Item);
  // Left by a change whose events were not all written: write them now.
  if (outbox?.length) await deliverOutbox(id, rollout.version, outbox);
  return rollout;
}

/**
 * Writes `next` if the stored rollout is still at `expected` (`next.version - 1` unless one write
 * records two facts, each with its own version), with the events that record the change.
 * Returns false when someone else changed it first; the caller re-reads and decides again (and
 * its events are not written).
 */
export async function saveRollout(next: Rollout, events: NewEvent[] = [], expected = next.version - 1): Promise<boolean> {
  const saved = await conditionally(
    dynamo().send(
      new PutCommand({
        TableName: tableName(),
        Item: item(next, events),
        ConditionExpression: 'version = :expected',
        ExpressionAttributeValues: { ':expected': expected },
      }),
    ),
  );
  if (!saved) return false;
  // Counted here, where the versioned write won, not where the outbox is delivered: a reader that
  // finds an outbox left by a crash delivers it again, but the transition was made once.
  countRolloutFacts(events);
  if (events.length > 0) await deliverOutbox(next.id, next.version, events);
  return true;
}

export interface RolloutFilter {
  status?: RolloutStatus;
  image_name?: string;
}

/** Newest first. `image_name` matches the repository or the full image. */
export async function listRollouts(filter: RolloutFilter, limit: number, cursor?: string): Promise<Page<Rollout>> {
  const [index, partition, listed] = filter.status
    ? [indexes.byStatus, keys.rolloutStatusPk(filter.status), listedKeys.rolloutWithStatus(filter.status)]
    : [indexes.byKind, keys.rolloutListPk, listedKeys.rollout];
  const page = await queryIndexPage(index, partition, {
    limit,
    newestFirst: true,
    ...(cursor ? { cursor: { cursor, listed } } : {}),
    ...(filter.image_name
      ? { filter: { expression: '#repository = :image OR #image = :image', names: { '#repository': 'repository', '#image': 'image' }, values: { ':image': filter.image_name } } }
      : {}),
  });
  return { items: page.items.map(rolloutOf), next_cursor: page.next_cursor };
}

/** Every rollout in one status, oldest first (the tick walks these). */
export async function* rolloutsWithStatus(status: RolloutStatus): AsyncGenerator<Rollout> {
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await queryIndexPage(indexes.byStatus, keys.rolloutStatusPk(status), startKey ? { startKey } : {});
    for (const stored of page.items) yield rolloutOf(stored);
    startKey = page.lastKey;
  } while (startKey);
}

/** Rollouts whose ending sweep is unfinished (the tick finishes what a crash cut short). */
export async function* rolloutsBeingSwept(): AsyncGenerator<Rollout> {
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await queryIndexPage(indexes.deviceList, keys.rolloutSweepListPk, startKey ? { startKey } : {});
    for (const listed of page.items) {
      const rollout = await getRollout(String(listed[indexes.deviceList.sk]));
      if (rollout?.sweep) yield rollout;
    }
    startKey = page.lastKey;
  } while (startKey);
}

/** Notes that a shard's sweep after the rollout's ending found nothing left to revert. */
export async function markShardSwept(rolloutId: string, shard: number, ending: string, at: string): Promise<void> {
  await dynamo().send(new PutCommand({ TableName: tableName(), Item: { ...keys.shardSwept(rolloutId, shard, ending), rollout_id: rolloutId, shard, ending, swept_at: at } }));
}

/** The shards (of those given) whose sweep after the `ending` found nothing left. */
export async function sweptShards(rolloutId: string, shards: number[], ending: string): Promise<Set<number>> {
  const swept = new Set<number>();
  for (const shard of shards) {
    const { Item } = await dynamo().send(new GetCommand({ TableName: tableName(), Key: keys.shardSwept(rolloutId, shard, ending), ConsistentRead: true }));
    if (Item) swept.add(shard);
  }
  return swept;
}

/**
 * Notes that the rollout of the push ranked `rank` has started, unless a newer push of the
 * repository has started one first: then that push's rank is returned and nothing is written.
 * Pushes of a repository start in push order only, so an older push never rolls out after a newer
 * one has been seen, however the newer one ended.
 */
export async function recordStartedPush(repository: string, rank: string): Promise<string | undefined> {
  const key = keys.newestStartedPush(repository);
  const recorded = await conditionally(
    dynamo().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: key,
        UpdateExpression: 'SET #rank = :rank, repository = :repository',
        ConditionExpression: 'attribute_not_exists(#rank) OR #rank <= :rank',
        ExpressionAttributeNames: { '#rank': 'rank' },
        ExpressionAttributeValues: { ':rank': rank, ':repository': repository },
      }),
    ),
  );
  if (recorded) return undefined;
  const newest = await newestStartedPush(repository);
  return newest !== undefined && newest > rank ? newest : undefined;
}

/** The rank of the newest push of the repository whose rollout has started, if any has. */
export async function newestStartedPush(repository: string): Promise<string | undefined> {
  const { Item } = await dynamo().send(new GetCommand({ TableName: tableName(), Key: keys.newestStartedPush(repository), ConsistentRead: true }));
  return typeof Item?.rank === 'string' ? Item.rank : undefined;
}

/** A rollout as its policy's list of rollouts of a repository holds it. */
export interface PolicyRolloutEntry {
  rollout_id: string;
  tag: string;
}

/**
 * Lists the rollout under its policy and (normalised) repository, for the policy's tag policy to
 * find what it runs (lib/rollouts/tag-policies.ts). Written before the rollout itself, so that a
 * crash in between leaves an entry whose rollout does not exist (a reader passes over it) rather
 * than a rollout its policy cannot see. Writing it again (a copy of the push) changes nothing.
 */
export async function listPolicyRollout(repository: string, rollout: Rollout): Promise<void> {
  const entry: PolicyRolloutEntry = { rollout_id: rollout.id, tag: rollout.tag };
  await dynamo().send(new PutCommand({ TableName: tableName(), Item: { ...keys.policyRollout(repository, rollout.policy_id, rolloutRank(rollout)), ...entry } }));
}

/** The policy's rollouts of the repository, newest push first, read a page at a time as the caller goes on. */
export async function* policyRolloutsOf(repository: string, policyId: string, pageSize = 10): AsyncGenerator<PolicyRolloutEntry> {
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await dynamo().send(
      new QueryCommand({
        TableName: tableName(),
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': keys.policyRolloutsPk(repository), ':prefix': keys.policyRolloutsPrefix(policyId) },
        ScanIndexForward: false,
        Limit: pageSize,
        ExclusiveStartKey: startKey,
        ConsistentRead: true,
      }),
    );
    for (const item of page.Items ?? []) yield { rollout_id: String(item.rollout_id), tag: String(item.tag) };
    startKey = page.LastEvaluatedKey;
  } while (startKey);
}
