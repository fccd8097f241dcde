/** A rollout drawn the way the CLI and the demo draw it: batches as bars, counts, the failure rate. */
import { devicesOf, deviceStatuses, type BatchView, type RolloutView, type Statistics } from '../../client/admin-client';

export type RolloutSummary = RolloutView & { statistics: Statistics };

export const activeStatuses = ['pending', 'in_progress', 'paused'];

export const label = (status: string) => status.replaceAll('_', ' ');

export const percent = (rate: number) => `${(rate * 100).toFixed(rate > 0 && rate < 0.1 ? 1 : 0)}%`;

/** Devices of the batch whose update is over, one way or another. */
const doneIn = (batch: BatchView) => devicesOf(batch) - batch.counts.pending - batch.counts.scheduled;

export function StatusBadge(props: { status: string }) {
  return <span class={`badge status-${props.status}`}>{label(props.status)}</span>;
}

export function BatchBars(props: { rollout: RolloutView }) {
  const { rollout } = props;
  return (
    <ol class="batches" aria-label="Batches">
      {rollout.batches.map((batch) => {
        const done = doneIn(batch);
        const text = `Batch ${batch.number} of ${rollout.batches.length} (${batch.percentage}%): ${done} of ${devicesOf(batch)} devices done${batch.joined_devices ? ` (${batch.joined_devices} joined later)` : ''}, ${label(batch.status)}`;
        return (
          <li key={batch.number} class={`batch batch-${batch.status}`}>
            <span class="batch-label">
              Batch {batch.number} <small>({batch.percentage}%)</small>
            </span>
            <progress max={Math.max(1, devicesOf(batch))} value={done} aria-label={text} title={text} />
            <span class="batch-count">
              {done}/{devicesOf(batch)} <small>{label(batch.status)}</small>
            </span>
          </li>
        );
      })}
    </ol>
  );
}

export function StatusCounts(props: { statistics: Statistics }) {
  return (
    <dl class="counts">
      {deviceStatuses.map((status) => (
        <div key={status} class={props.statistics[status] === 0 ? 'count zero' : 'count'}>
          <dt>{label(status)}</dt>
          <dd>{props.statistics[status]}</dd>
        </div>
      ))}
    </dl>
  );
}

export function FailureRate(props: { rollout: RolloutView; statistics: Statistics }) {
  const rate = props.statistics.failure_rate;
  const max = props.rollout.policy.max_failure_rate;
  const text = `Failure rate ${percent(rate)} of at most ${percent(max)}`;
  return (
    <p class={rate > max ? 'failure-rate over' : 'failure-rate'}>
      <span>{text}</span>
      <meter min={0} max={1} low={max * 0.75} high={max} optimum={0} value={rate} aria-label={text} />
    </p>
  );
}
