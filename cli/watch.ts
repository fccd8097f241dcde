/**
 * `fleet rollouts watch`: the demo's live view of one rollout (progress bar per batch, device
 * counts, failure rate against the policy's maximum, latest events), read from the API every
 * interval until the rollout completes, pauses or otherwise ends.
 */
import type { Writable } from 'node:stream';
import { endedStatuses, EventLog, unreachableCause, viewTime, type AdminClient, type RolloutDetail } from '../client/admin-client';
import { liveOutput } from '../client/live-output';
import { countsText, label, noteworthy, type LiveView, type Style } from '../client/render';
import { Interrupted } from './exit-codes';

export interface WatchOptions {
  intervalMs: number;
  /** Plain lines even on a terminal. */
  plain: boolean;
  signal?: AbortSignal;
  /** How long the API may stay unreachable before the watch gives up. */
  patienceMs?: number;
}

/** Follows the rollout to its end and returns its last state. */
export async function watchRollout(api: AdminClient, id: string, stream: Writable, options: WatchOptions): Promise<RolloutDetail> {
  let detail = await api.rollout(id);
  const events = new EventLog(() => api.events(id));
  await events.absorb(detail.events);
  const live = liveOutput(stream, { plain: options.plain });
  const view: LiveView = {
    title: `rollout ${detail.rollout.id}`,
    startedAt: Date.parse(detail.rollout.created_at),
    now: viewTime(detail.rollout, Date.now()),
    toImage: detail.rollout.image,
    detail,
    events: events.list(noteworthy),
    names: new Map(),
    notes: [],
  };
  const patienceMs = options.patienceMs ?? 60_000;
  let unreachableSince: number | undefined;
  try {
    for (;;) {
      view.now = viewTime(detail.rollout, Date.now());
      live.update(view);
      if (endedStatuses.includes(detail.rollout.status)) break;
      await sleep(options.intervalMs, options.signal);
      try {
        detail = await api.rollout(id);
        await events.absorb(detail.events);
        Object.assign(view, { detail, events: events.list(noteworthy), notes: [] });
        unreachableSince = undefined;
      } catch (error) {
        // A long rollout outlives a blip in the network or a restart of the host.
        const cause = unreachableCause(error);
        if (!cause) throw error;
        unreachableSince ??= Date.now();
        if (Date.now() - unreachableSince > patienceMs) throw error;
        view.notes = [`cannot reach the API (${cause}); trying again`];
      }
    }
  } finally {
    live.finish(view);
  }
  live.print([endLine(live.style, detail)]);
  return detail;
}

/** `rollout ro-… completed: healthy 9  rolled back 3` or `rollout ro-… paused: <why>`. */
export function endLine(style: Style, detail: RolloutDetail): string {
  const { rollout, statistics } = detail;
  const counts = countsText(style, statistics, ['healthy', 'updated', 'unhealthy', 'failed', 'rolled_back', 'skipped', 'scheduled', 'pending']);
  return `rollout ${rollout.id} ${label(rollout.status)}${rollout.status_reason ? `: ${rollout.status_reason}` : ''}${counts ? ` (${counts})` : ''}`;
}

async function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) throw new Interrupted('interrupted');
  await new Promise<void>((done) => {
    const stop = () => (clearTimeout(timer), done());
    const timer = setTimeout(() => (signal?.removeEventListener('abort', stop), done()), ms);
    signal?.addEventListener('abort', stop, { once: true });
  });
  if (signal?.aborted) throw new Interrupted('interrupted');
}
