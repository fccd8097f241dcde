/**
 * Page cursors, one codec for every listing. On the wire a cursor is opaque: base64url of the
 * JSON of where the next page starts. Each listing states, beside its query, the shape it
 * accepts (built from the helpers here); a cursor that is not exactly one the listing could have
 * handed out (tampered, cut, of another listing or partition) is a 400, never a failed query.
 */
import { Invalid } from '../errors';
import type { Index, ListedKey } from './keys';

/** Whether a decoded cursor is one this listing hands out. */
export type CursorShape<T> = (value: unknown) => value is T;

export function encodeCursor(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/** The position `cursor` holds, or undefined for none (the first page). */
export function decodeCursor<T>(cursor: string | undefined, shape: CursorShape<T>): T | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new Invalid('cursor is not valid: pass the next_cursor of a previous page unchanged');
  }
  // Only the exact text this codec writes: base64url decoding ignores stray characters.
  if (encodeCursor(value) !== cursor || !shape(value)) throw new Invalid('cursor does not belong to this listing');
  return value;
}

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype;

/** The record has exactly these attributes, the optional ones aside. */
export function hasExactly(value: Record<string, unknown>, required: readonly string[], optional: readonly string[] = []): boolean {
  const names = Object.keys(value);
  return required.every((name) => names.includes(name)) && names.every((name) => required.includes(name) || optional.includes(name));
}

/** DynamoDB's size limits for key attributes: 2048 bytes for a partition key, 1024 for a sort key. */
const maxKeyBytes = (name: string) => (name.endsWith('pk') ? 2048 : 1024);

/**
 * A key of an index listing, as DynamoDB hands it back in LastEvaluatedKey: exactly the whole key
 * of an item the listing could show in `partition` (see `listedKeys`), and one DynamoDB takes.
 */
export function indexKeyShape(index: Index, partition: string, listed: ListedKey): CursorShape<Record<string, string>> {
  return (value): value is Record<string, string> => {
    if (!isRecord(value) || value[index.pk] !== partition) return false;
    const sortKey = value[index.sk];
    const expected = typeof sortKey === 'string' ? listed(sortKey) : undefined;
    return (
      expected !== undefined &&
      hasExactly(value, Object.keys(expected)) &&
      Object.entries(expected).every(([name, attribute]) => value[name] === attribute && Buffer.byteLength(attribute, 'utf8') <= maxKeyBytes(name))
    );
  };
}
