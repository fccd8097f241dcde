/**
 * The system's metrics: Powertools Metrics (CloudWatch EMF), namespace `FleetRollout`, one
 * instance per sandbox, flushed once per invocation by `lambdaHandler` (./lambda).
 *
 * Counts are taken where the conditional write that makes a transition succeeds, so a retry that
 * finds the transition already made counts nothing:
 * - rollouts: `saveRollout` (./store/rollouts), when its versioned write wins, from the
 *   rollout-level events that write carries (`countRolloutFacts`);
 * - devices: `transitionRow` (./rollouts/device-transitions), when the row's conditional move is
 *   this call's (`countDeviceMove`).
 * So the counts are at most once, never twice: a write that succeeded but answered an error (an
 * SDK retry then fails its condition) is never counted, nor is one whose invocation crashes
 * before its flush. What stays at-least-once is the health-check latency: a health message
 * delivered again probes the devices its first delivery had not yet moved once more, and each
 * such probe is observed, as it is real work done. Metrics are hints, like the batch counters;
 * the rows and the event log are the record.
 *
 * No dimension carries an id: only the default `service`, so each metric is one time series.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { EmfOutput } from '@aws-lambda-powertools/metrics/types';
import type { DeviceRolloutStatus, EventType } from './domain/types';
import { logger } from './logger';
import { metricsNamespace, metricsService, type CountMetric, type LatencyMetric } from './metric-names';

export { countMetrics, latencyMetrics, metricsNamespace, metricsService, type CountMetric, type LatencyMetric } from './metric-names';

const rolloutFacts: Partial<Record<EventType, CountMetric>> = {
  'image.rollout_started': 'RolloutsStarted',
  'image.rollout_completed': 'RolloutsCompleted',
  'image.rollout_paused': 'RolloutsPaused',
  'image.rollout_rolled_back': 'RolloutsRolledBack',
  'image.rollout_cancelled': 'RolloutsCancelled',
  'image.rollout_failed': 'RolloutsFailed',
};

const deviceMoves: Partial<Record<DeviceRolloutStatus, CountMetric>> = {
  updated: 'DevicesUpdated',
  failed: 'DevicesFailed',
  healthy: 'DevicesHealthy',
  unhealthy: 'DevicesUnhealthy',
  rolled_back: 'DevicesRolledBack',
};

/** Where a host that is not Lambda takes the EMF documents instead of stdout (the embedded host). */
export type EmfSink = (document: EmfOutput) => void;

/**
 * Under a global symbol rather than in this module: the embedded host may run functions from
 * their bundles (`functionsFrom`), each with its own copy of this module, and all must find it.
 */
const sinkKey = Symbol.for('fleet-rollout.metrics.emf-sink');
type SinkHolder = { [sinkKey]?: EmfSink };

/** Sends every flushed EMF document to `sink` instead of stdout; returns the function that undoes it. */
export function sendEmfTo(sink: EmfSink): () => void {
  const holder = globalThis as SinkHolder;
  holder[sinkKey] = sink;
  return () => {
    if (holder[sinkKey] === sink) delete holder[sinkKey];
  };
}

/**
 * Powertools Metrics with two changes to the flush. An invocation that recorded nothing writes
 * nothing: Powertools would log a warning on every such invocation (the device poll's), which is
 * work and noise on the hot path. And with a sink set, the document goes there: Powertools 2.x
 * writes EMF to its own stdout Console with no option to send it elsewhere (its `logger` option
 * carries only its warnings, and POWERTOOLS_DEV merely swaps in the global console), so the
 * document is taken from its public `serializeMetrics()` instead.
 */
class FleetMetrics extends Metrics {
  override publishStoredMetrics(): this {
    const sink = (globalThis as SinkHolder)[sinkKey];
    if (!this.hasStoredMetrics()) {
      this.clearMetrics();
      this.clearDimensions();
      this.clearMetadata();
      return this;
    }
    if (!sink) return super.publishStoredMetrics();
    try {
      sink(this.serializeMetrics());
    } finally {
      this.clearMetrics();
      this.clearDimensions();
      this.clearMetadata();
    }
    return this;
  }
}

// Powertools' own warnings (an invalid dimension) go to the functions' log. Process-wide, like
// the logger: on the embedded host concurrent invocations share its buffer,
// so one invocation's flush may carry another's counts. Totals are unaffected, as no dimension
// names the function.
export const metrics = new FleetMetrics({ namespace: metricsNamespace, serviceName: metricsService, logger });

/** Counts the rollout-level transitions among the events of a rollout write that succeeded. */
export function countRolloutFacts(events: readonly { type: EventType }[]): void {
  for (const event of events) {
    const name = rolloutFacts[event.type];
    if (name) metrics.addMetric(name, MetricUnit.Count, 1);
  }
}

/** Counts a device row's move that this call made. */
export function countDeviceMove(to: DeviceRolloutStatus): void {
  const name = deviceMoves[to];
  if (name) metrics.addMetric(name, MetricUnit.Count, 1);
}

export function observeLatency(name: LatencyMetric, ms: number): void {
  if (Number.isFinite(ms) && ms >= 0) metrics.addMetric(name, MetricUnit.Milliseconds, ms);
}
