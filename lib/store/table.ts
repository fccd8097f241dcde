/** Small helpers shared by the store modules: the table name, cursors, condition failures. */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { config, ConfigError } from '../config';
import { Invalid } from '../errors';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../aws-clients';
import type { indexes } from './keys';

export function tableName(): string {
  const name = config().tableName;
  if (!name) throw new ConfigError('environment variable TABLE_NAME is required but not set');
  return name;
}

export function isConditionFailed(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error instanceof Error && error.name === 'ConditionalCheckFailedException')
  );
}

/**
 * Runs a conditional write: true when it applied, false when its condition did not hold. Every
 * transition in the store is one of these, so "someone else moved it first" is never an error.
 */
export async function conditionally(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (error) {
    if (isConditionFailed(error)) return false;
    throw error;
  }
}

/** Strips the table's key attributes, leaving the entity as the API shows it. */
export function entityOf<T>(item: Record<string, unknown>): T {
  const { pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, gsi3pk, gsi3sk, expires_at, ...entity } = item;
  return entity as T;
}

/** An opaque page cursor: the key to continue from, base64url-encoded. */
export function encodeCursor(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

export function decodeCursor<T = Record<string, unknown>>(cursor: string | undefined): T | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (value && typeof value === 'object') return value as T;
  } catch {
    // fall through to the error below
  }
  throw new Invalid('cursor is not valid: pass the next_cursor of a previous page unchanged');
}

/** DynamoDB's size limits for key attributes: 2048 bytes for a partition key, 1024 for a sort key. */
const maxKeyBytes = (name: string) => (name.endsWith('pk') ? 2048 : 1024);

export type Index = (typeof indexes)[keyof typeof indexes];

/**
 * A cursor holding a key of `index`, checked to be a whole key of that index (the table's key
 * plus the index's, nothing else) in the partition being listed, so that a tampered cursor is a
 * client error rather than a failed query.
 */
function decodeIndexCursor(cursor: string | undefined, index: Index, partition: string): Record<string, string> | undefined {
  const key = decodeCursor(cursor);
  if (key === undefined) return undefined;
  const expected = ['pk', 'sk', index.pk, index.sk];
  const valid =
    Object.keys(key).length === expected.length &&
    expected.every((name) => {
      const value = key[name];
      return typeof value === 'string' && value !== '' && Buffer.byteLength(value, 'utf8') <= maxKeyBytes(name);
    }) &&
    key[index.pk] === partition;
  if (!valid) throw new Invalid('cursor does not belong to this listing');
  return key as Record<string, string>;
}

export interface IndexPageOptions {
  limit?: number;
  /** An opaque cursor from a previous page, as a client passes it back. */
  cursor?: string;
  /** Where to go on from, for internal walks that never hand the key to a client. */
  startKey?: Record<string, unknown>;
  newestFirst?: boolean;
  filter?: { expression: string; names: Record<string, string>; values: Record<string, unknown> };
}

/** Filtered listings read on past items the filter drops, up to this many queries a page. */
const maxQueriesPerFilteredPage = 10;

/**
 * One page of one partition of an index, with the cursor of the next page. With a filter, it
 * reads on until the page is full (DynamoDB's Limit counts items before the filter), so that a
 * client does not get empty pages that still have a next cursor.
 */
export async function queryIndexPage(
  index: Index,
  partition: string,
  options: IndexPageOptions = {},
): Promise<{ items: Record<string, unknown>[]; next_cursor: string | null; lastKey?: Record<string, unknown> }> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined = options.startKey ?? decodeIndexCursor(options.cursor, index, partition);
  for (let query = 0; query < (options.filter ? maxQueriesPerFilteredPage : 1); query++) {
    const result = await dynamo().send(
      new QueryCommand({
        TableName: tableName(),
        IndexName: index.name,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': index.pk, ...options.filter?.names },
        ExpressionAttributeValues: { ':pk': partition, ...options.filter?.values },
        ...(options.filter ? { FilterExpression: options.filter.expression } : {}),
        ScanIndexForward: !options.newestFirst,
        Limit: options.limit === undefined ? undefined : options.limit - items.length,
        ExclusiveStartKey: startKey,
      }),
    );
    items.push(...(result.Items ?? []));
    startKey = result.LastEvaluatedKey;
    if (!startKey || (options.limit !== undefined && items.length >= options.limit)) break;
  }
  return { items, next_cursor: encodeCursor(startKey), ...(startKey ? { lastKey: startKey } : {}) };
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}
