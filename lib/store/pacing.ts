/**
 * The paced scheduler's state, one item per rollout (lib/rollouts/pacing.ts): a lease, so that one
 * invocation at a time schedules the rollout's paced devices; where it has got to; the rate's
 * current group; and a count of wake-ups that came while the lease was held. Every write is
 * conditional: taking the lease on its being free (or the taker's own), the holder's writes on
 * its still holding it, and a wake-up on the lease being held (else the waker takes it).
 */
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../aws-clients';
import type { RateGroup } from '../domain/pacing';
import { keys } from './keys';
import { conditionally, resultUnlessConditionFailed, tableName } from './table';

/** Where the scheduler goes on: a shard of the batch and, within it, after which row. */
export interface PacePosition {
  batch: number;
  shard: number;
  start_key?: Record<string, unknown>;
  /** Every shard of the batch was gone through. */
  done: boolean;
}

export interface PaceState {
  lease_token?: string;
  lease_until?: string;
  /** Wake-ups noted while the lease was held: a holder that lets go checks none came since it looked. */
  wakes: number;
  position?: PacePosition;
  rate?: RateGroup;
}

function stateOf(item: Record<string, unknown> | undefined): PaceState {
  return {
    ...(typeof item?.lease_token === 'string' ? { lease_token: item.lease_token } : {}),
    ...(typeof item?.lease_until === 'string' ? { lease_until: item.lease_until } : {}),
    wakes: Number(item?.wakes ?? 0),
    ...(item?.position ? { position: item.position as PacePosition } : {}),
    ...(item?.rate ? { rate: item.rate as RateGroup } : {}),
  };
}

export async function getPace(rolloutId: string): Promise<PaceState> {
  const { Item } = await dynamo().send(new GetCommand({ TableName: tableName(), Key: keys.pace(rolloutId), ConsistentRead: true }));
  return stateOf(Item);
}

/** Takes the lease until `until` unless another holder's lease is still live at `now`; the state, or undefined. */
export async function takePaceLease(rolloutId: string, token: string, until: string, now: string): Promise<PaceState | undefined> {
  const result = await resultUnlessConditionFailed(
    dynamo().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.pace(rolloutId),
        UpdateExpression: 'SET rollout_id = :id, lease_token = :token, lease_until = :until ADD wakes :zero',
        ConditionExpression: 'attribute_not_exists(lease_until) OR lease_until <= :now OR lease_token = :token',
        ExpressionAttributeValues: { ':id': rolloutId, ':token': token, ':until': until, ':now': now, ':zero': 0 },
        ReturnValues: 'ALL_NEW',
      }),
    ),
  );
  return result ? stateOf(result.Attributes) : undefined;
}

/** Notes a wake-up for the lease's holder; false when no lease is live at `now` (take it instead). */
export async function notePaceWake(rolloutId: string, now: string): Promise<boolean> {
  return conditionally(
    dynamo().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.pace(rolloutId),
        UpdateExpression: 'SET wake_requested_at = :now ADD wakes :one',
        ConditionExpression: 'lease_until > :now',
        ExpressionAttributeValues: { ':now': now, ':one': 1 },
      }),
    ),
  );
}

/**
 * The holder's write: any of its position, rate group and lease end, only while `token` holds the
 * lease (and, given `wakes`, no wake-up came since it read that many). False when it does not.
 */
export async function updatePace(
  rolloutId: string,
  token: string,
  change: { position?: PacePosition; rate?: RateGroup; lease_until?: string },
  wakes?: number,
): Promise<boolean> {
  const sets = Object.entries(change).filter(([, value]) => value !== undefined);
  if (sets.length === 0 && wakes === undefined) return true;
  const values: Record<string, unknown> = { ':token': token, ...(wakes !== undefined ? { ':wakes': wakes } : {}) };
  for (const [name, value] of sets) values[`:${name}`] = value;
  return conditionally(
    dynamo().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.pace(rolloutId),
        UpdateExpression: `SET ${[...sets.map(([name]) => `#${name} = :${name}`), 'lease_token = :token'].join(', ')}`,
        ConditionExpression: `lease_token = :token${wakes !== undefined ? ' AND wakes = :wakes' : ''}`,
        ...(sets.length > 0 ? { ExpressionAttributeNames: Object.fromEntries(sets.map(([name]) => [`#${name}`, name])) } : {}),
        ExpressionAttributeValues: values,
      }),
    ),
  );
}
