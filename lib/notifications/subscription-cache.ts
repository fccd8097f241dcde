/**
 * The subscriptions as appendEvents sees them: read at most once every few seconds per process,
 * so that recording events costs nothing more while nobody subscribes. The price: a subscription
 * another process created takes up to `cacheMs` to be seen by appendEvents (this process forgets
 * its copy at once when it changes one, as on the embedded host, where every function shares it).
 */
import { allSubscriptions, type StoredSubscription } from '../store/subscriptions';

export const cacheMs = 5_000;

let cached: { at: number; subscriptions: Promise<StoredSubscription[]> } | undefined;

export function cachedSubscriptions(now = Date.now()): Promise<StoredSubscription[]> {
  if (!cached || now - cached.at >= cacheMs) {
    const read = allSubscriptions();
    cached = { at: now, subscriptions: read };
    // A failed read is not kept: the next caller tries again.
    read.catch(() => {
      if (cached?.subscriptions === read) cached = undefined;
    });
  }
  return cached.subscriptions;
}

export function forgetCachedSubscriptions(): void {
  cached = undefined;
}
