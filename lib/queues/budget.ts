/**
 * An invocation's time, for handlers that work through a shard a page at a time: they go on while
 * another page fits in what is left and hand the rest on as a new message before the function's
 * timeout, so that no invocation is cut off half-way and its message never comes back late.
 */

/** Kept back for handing the rest on: one queue send, with the SDK's retries. */
const handOverMs = 3000;

export class Budget {
  /** `remainingMs`: milliseconds left before the function times out. */
  constructor(readonly remainingMs: () => number) {}

  /** Whether a page as slow as `slowestMs` fits in what is left, twice over, with the hand-over. */
  allowsPageOf(slowestMs: number): boolean {
    return this.remainingMs() >= handOverMs + 2 * slowestMs;
  }
}

/** For calls outside a Lambda invocation (tests, tools): no deadline. */
export const noDeadline = new Budget(() => Number.POSITIVE_INFINITY);

export interface Page<R> {
  rows: R[];
  lastKey?: Record<string, unknown>;
}

/**
 * Works the pages from `startKey` on, reading each next page while the current one is worked.
 * `work` returns false to stop (the rollout moved on): then `stopped`. When the budget runs out
 * first, `startKey` says where to go on; with neither, the last page is done.
 */
export async function workPages<R>(
  budget: Budget,
  startKey: Record<string, unknown> | undefined,
  read: (startKey: Record<string, unknown> | undefined) => Promise<Page<R>>,
  work: (rows: R[]) => Promise<boolean>,
): Promise<{ stopped: boolean; startKey?: Record<string, unknown> }> {
  let page = await read(startKey);
  let slowest = 0;
  for (;;) {
    const started = Date.now();
    const next = page.lastKey ? read(page.lastKey) : undefined;
    // Awaited below unless the page's work stops or the budget runs out; never left unhandled.
    next?.catch(() => undefined);
    const goOn = await work(page.rows);
    slowest = Math.max(slowest, Date.now() - started);
    if (!goOn) return { stopped: true };
    if (!page.lastKey) return { stopped: false };
    if (!budget.allowsPageOf(slowest)) return { stopped: false, startKey: page.lastKey };
    page = await next!;
  }
}
