/** What every `… list` shares: `--limit`, `--cursor`, following `next_cursor`, the empty case. */
import { Command, InvalidArgumentError } from 'commander';
import type { Session } from '../session';

export interface ListOptions {
  limit?: number;
  cursor?: string;
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number from 1');
  return n;
}

export function limitOption(command: Command): Command {
  return command
    .option('--limit <n>', 'at most this many (default: all, page by page)', positive)
    .option('--cursor <cursor>', 'start where an earlier list stopped (its next_cursor)');
}

/**
 * Reads every page (or up to `--limit` items) and prints them: a table for people, or the API's
 * list shape (`{"<key>":[…],"next_cursor":…}`) with all the items read, for scripts.
 */
export async function printList<T>(s: Session, path: string, key: string, options: ListOptions, table: (rows: T[]) => string[]): Promise<void> {
  const page = await s.api.list<T>(path, key, { ...(options.limit ? { max: options.limit } : {}), ...(options.cursor ? { cursor: options.cursor } : {}) });
  s.show({ [key]: page.items, next_cursor: page.next_cursor }, () => {
    if (page.items.length === 0) return [`no ${key.replaceAll('_', ' ')}`];
    const more = page.next_cursor ? [`(more: --cursor ${page.next_cursor})`] : [];
    return [...table(page.items), ...more];
  });
}
