/**
 * The names of the system's metrics (lib/metrics.ts emits them), in a module of their own with
 * nothing at module scope: the CDK stack's dashboard and the embedded host's `/metrics` import
 * them without building a Metrics instance or a logger.
 */
export const metricsNamespace = 'FleetRollout';
export const metricsService = 'fleet-rollout';

/** The counted metrics, by their EMF names (CloudWatch's); Prometheus names follow from them. */
export const countMetrics = [
  'RolloutsStarted',
  'RolloutsCompleted',
  'RolloutsPaused',
  'RolloutsRolledBack',
  'RolloutsCancelled',
  'RolloutsFailed',
  'DevicesUpdated',
  'DevicesFailed',
  'DevicesHealthy',
  'DevicesUnhealthy',
  'DevicesRolledBack',
] as const;
export type CountMetric = (typeof countMetrics)[number];

/** Durations in milliseconds, one value per observation. */
export const latencyMetrics = ['HealthCheckLatency', 'BatchAdvanceLatency'] as const;
export type LatencyMetric = (typeof latencyMetrics)[number];
