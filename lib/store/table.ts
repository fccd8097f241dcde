/** Small helpers shared by the store modules: the table name, cursors, condition failures. */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { config, ConfigError } from '../config';
import { Invalid } from '../errors';
import { indexes } from './keys';

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

/**
 * A cursor holding a DynamoDB key, checked to be a whole key of the index being listed (the
 * table's key plus the index's, nothing else) in the partition being listed, so that a tampered
 * cursor is a client error rather than a failed query.
 */
export function decodeKeyCursor(
  cursor: string | undefined,
  partition: Record<string, string>,
): Record<string, string> | undefined {
  const key = decodeCursor(cursor);
  if (key === undefined) return undefined;
  const index = Object.values(indexes).find((candidate) => Object.hasOwn(partition, candidate.pk));
  const expected = ['pk', 'sk', ...(index ? [index.pk, index.sk] : [])];
  const valid =
    Object.keys(key).length === expected.length &&
    expected.every((name) => {
      const value = key[name];
      return typeof value === 'string' && value !== '' && Buffer.byteLength(value, 'utf8') <= maxKeyBytes(name);
    }) &&
    Object.entries(partition).every(([name, value]) => key[name] === value);
  if (!valid) throw new Invalid('cursor does not belong to this listing');
  return key as Record<string, string>;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}
