/** Active and recent rollouts, each with its batches, device counts, failure rate and reason. */
import { useEffect, useState } from 'preact/hooks';
import type { Api } from './api';
import { activeStatuses, BatchBars, FailureRate, StatusBadge, StatusCounts, type RolloutSummary } from './progress';
import { useRefresh } from './use-refresh';

type List = { rollouts: RolloutSummary[]; next_cursor: string | null };

export function RolloutsPage(props: { api: Api }) {
  const { api } = props;
  const [running, setRunning] = useState(true);
  // Every 4 s while something runs; a new rollout shows up within 10 s otherwise.
  const active = useRefresh(() => api.get<List>('/api/v1/rollouts/active?limit=50'), running ? 4_000 : 10_000, 'active');
  const anyActive = active.data === undefined || active.data.rollouts.length > 0;
  useEffect(() => setRunning(anyActive), [anyActive]);
  const recent = useRefresh(() => api.get<List>('/api/v1/rollouts?limit=20'), running ? 10_000 : 20_000, 'recent');
  const recentEnded = recent.data?.rollouts.filter((rollout) => !activeStatuses.includes(rollout.status));

  return (
    <>
      <section aria-labelledby="active-title">
        <h2 id="active-title">Active rollouts</h2>
        <RolloutList list={active.data?.rollouts} error={active.error} empty="No rollout is pending, in progress or paused." />
      </section>
      <section aria-labelledby="recent-title">
        <h2 id="recent-title">Recent rollouts</h2>
        <RolloutList list={recentEnded} error={recent.error} empty="No rollout has ended yet." />
      </section>
    </>
  );
}

function RolloutList(props: { list: RolloutSummary[] | undefined; error: string | undefined; empty: string }) {
  if (props.error) return <p class="error" role="alert">{props.error}</p>;
  if (!props.list) return <p class="hint">Loading…</p>;
  if (props.list.length === 0) return <p class="hint">{props.empty}</p>;
  return (
    <ul class="cards">
      {props.list.map((rollout) => (
        <li key={rollout.id} class="card">
          <RolloutCard rollout={rollout} />
        </li>
      ))}
    </ul>
  );
}

/** `in 2 h 5 min`, from the viewer's clock (re-rendered with every refresh). */
function untilText(at: string): string {
  const minutes = Math.max(0, Math.round((Date.parse(at) - Date.now()) / 60_000));
  if (minutes < 1) return 'any moment';
  const hours = Math.floor(minutes / 60);
  return `in ${hours > 0 ? `${hours} h ` : ''}${minutes % 60} min`;
}

export function RolloutCard(props: { rollout: RolloutSummary }) {
  const { rollout } = props;
  return (
    <article aria-label={`Rollout of ${rollout.image}`}>
      <header class="card-head">
        <h3>
          <a href={`#/rollouts/${encodeURIComponent(rollout.id)}`}>{rollout.image}</a>
        </h3>
        <StatusBadge status={rollout.status} />
      </header>
      <p class="meta">
        <code>{rollout.id}</code> · {rollout.total_devices} devices · created {new Date(rollout.created_at).toLocaleString()}
        {rollout.next_batch_due_at && rollout.status === 'in_progress' && <> · next batch at {new Date(rollout.next_batch_due_at).toLocaleTimeString()}</>}
        {rollout.next_window_at && rollout.status === 'in_progress' && <> · waits for the maintenance window at {new Date(rollout.next_window_at).toLocaleString()} ({untilText(rollout.next_window_at)})</>}
        {rollout.start_at && rollout.status === 'pending' && <> · starts at {new Date(rollout.start_at).toLocaleString()} ({untilText(rollout.start_at)})</>}
        {rollout.promotion && <> · promoted{rollout.promotion.full ? ' without health checks' : ''}: {rollout.promotion.reason}</>}
      </p>
      {rollout.status_reason && <p class="reason">{rollout.status_reason}</p>}
      {rollout.approvals && rollout.approvals.length > 0 && (
        <p class="meta">
          Approved by{' '}
          {rollout.approvals.map((a) => `${a.name}${a.after_batch > 0 ? ` (after batch ${a.after_batch})` : ''}`).join(', ')}
          {rollout.approval_deadline_at && rollout.status === 'pending' && <> · approvals due by {new Date(rollout.approval_deadline_at).toLocaleString()}</>}
        </p>
      )}
      <BatchBars rollout={rollout} />
      <StatusCounts statistics={rollout.statistics} />
      <FailureRate rollout={rollout} statistics={rollout.statistics} />
    </article>
  );
}
