import { describe, expect, it } from 'vitest';
import { Budget, noDeadline, workPages, type Page } from '../../lib/queues/budget';

/** Pages of numbers, `size` each, keyed by the index of their first row. */
function pages(total: number, size: number) {
  const reads: (number | undefined)[] = [];
  const read = async (startKey?: Record<string, unknown>): Promise<Page<number>> => {
    const from = Number(startKey?.from ?? 0);
    reads.push(from);
    const rows = Array.from({ length: Math.min(size, total - from) }, (_, i) => from + i);
    return { rows, ...(from + size < total ? { lastKey: { from: from + size } } : {}) };
  };
  return { read, reads };
}

describe('workPages', () => {
  it('works every page when there is time, reading the next while the current is worked', async () => {
    const { read, reads } = pages(10, 3);
    const worked: number[][] = [];
    const readWhileWorking: number[] = [];
    const result = await workPages(noDeadline, undefined, read, async (rows) => {
      readWhileWorking.push(reads.length);
      worked.push(rows);
      return true;
    });
    expect(result).toEqual({ stopped: false });
    expect(worked).toEqual([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]);
    // While page n is worked, page n + 1 has already been asked for.
    expect(readWhileWorking).toEqual([2, 3, 4, 4]);
  });

  it('hands the rest on when what is left would not hold the slowest page twice and the hand-over', async () => {
    const { read } = pages(10, 3);
    let left = 10_000;
    const budget = new Budget(() => left);
    const worked: number[][] = [];
    const result = await workPages(budget, undefined, read, async (rows) => {
      worked.push(rows);
      left -= 4_000;
      return true;
    });
    expect(worked).toEqual([[0, 1, 2], [3, 4, 5]]);
    expect(result).toEqual({ stopped: false, startKey: { from: 6 } });
  });

  it('stops where the work says so, from the key it was given', async () => {
    const { read } = pages(10, 3);
    const worked: number[][] = [];
    const result = await workPages(noDeadline, { from: 3 }, read, async (rows) => {
      worked.push(rows);
      return worked.length < 2;
    });
    expect(worked).toEqual([[3, 4, 5], [6, 7, 8]]);
    expect(result).toEqual({ stopped: true });
  });
});

describe('Budget', () => {
  it('allows a page while the time left holds it twice over and three seconds for the hand-over', () => {
    expect(new Budget(() => 7_000).allowsPageOf(2_000)).toBe(true);
    expect(new Budget(() => 6_999).allowsPageOf(2_000)).toBe(false);
    expect(noDeadline.allowsPageOf(Number.MAX_SAFE_INTEGER)).toBe(true);
  });
});
