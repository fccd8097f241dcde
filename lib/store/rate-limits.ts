/**
 * Registries' rate buckets (lib/domain/rate-limit.ts), one item each. A take is one conditional
 * write, two when the bucket is not full, and never a read first: so concurrent webhook
 * invocations, on any number of Lambda instances, each take a token or are refused, and no token
 * is handed out twice. Only a refused take reads the bucket, to say how long to wait.
 */
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../aws-clients';
import { bucketWrites, retryAfterSeconds, type RateLimit, type Take } from '../domain/rate-limit';
import { keys, ttlAttribute } from './keys';
import { resultUnlessConditionFailed, tableName } from './table';

/** Takes one token from the registry's bucket at `nowMs`. */
export async function takeToken(registry: string, nowMs: number, limit: RateLimit): Promise<Take> {
  const writes = bucketWrites(nowMs, limit);
  /** The bucket's `full_at` after the write, or undefined when its condition did not hold. */
  const update = async (expression: string, condition: string, values: Record<string, number>): Promise<number | undefined> => {
    const result = await resultUnlessConditionFailed(
      dynamo().send(
        new UpdateCommand({
          TableName: tableName(),
          Key: keys.rateBucket(registry),
          UpdateExpression: expression,
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#ttl': ttlAttribute },
          ExpressionAttributeValues: { ...values, ':expires': writes.expiresAt },
          ReturnValues: 'UPDATED_NEW',
        }),
      ),
    );
    return result === undefined ? undefined : Number(result.Attributes?.full_at);
  };
  const whenFull = await update('SET full_at = :fullAt, #ttl = :expires', 'attribute_not_exists(full_at) OR full_at <= :atMost', {
    ':fullAt': writes.whenFull.fullAt,
    ':atMost': writes.whenFull.fullAtAtMost,
  });
  if (whenFull !== undefined) return { allowed: true, fullAt: whenFull };
  const whenTokenLeft = await update('ADD full_at :interval SET #ttl = :expires', 'full_at <= :atMost', {
    ':interval': writes.whenTokenLeft.add,
    ':atMost': writes.whenTokenLeft.fullAtAtMost,
  });
  if (whenTokenLeft !== undefined) return { allowed: true, fullAt: whenTokenLeft };
  const { Item } = await dynamo().send(new GetCommand({ TableName: tableName(), Key: keys.rateBucket(registry), ConsistentRead: true }));
  const fullAt = Number(Item?.full_at ?? nowMs);
  return { allowed: false, retryAfterSeconds: retryAfterSeconds(fullAt, nowMs, limit) };
}
