import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { EmfToPrometheus, snakeCase } from '../../infra/embedded/emf-prometheus';

/** An EMF document as Powertools writes it, not one shaped by hand. */
function emf(record: (metrics: Metrics) => void): unknown {
  const metrics = new Metrics({ namespace: 'FleetRollout', serviceName: 'fleet-rollout' });
  record(metrics);
  return JSON.parse(JSON.stringify(metrics.serializeMetrics()));
}

async function sample(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = await registry.getSingleMetric(name)?.get();
  return metric?.values.find((value) => ((value as { metricName?: string }).metricName ?? metric.name) === name && Object.entries(labels).every(([key, v]) => value.labels[key] === v))?.value;
}

describe('EMF to Prometheus', () => {
  it('names metrics in snake case', () => {
    expect(snakeCase('RolloutsStarted')).toBe('rollouts_started');
    expect(snakeCase('RolloutsRolledBack')).toBe('rollouts_rolled_back');
    expect(snakeCase('HealthCheckLatency')).toBe('health_check_latency');
    expect(snakeCase('DLQDepth')).toBe('dlq_depth');
  });

  it('adds counts to a _total counter, summing the values of one document and across documents', async () => {
    const registry = new Registry();
    const converter = new EmfToPrometheus(registry);
    converter.ingest(
      emf((m) => {
        m.addMetric('DevicesUpdated', MetricUnit.Count, 1);
        m.addMetric('DevicesUpdated', MetricUnit.Count, 1);
        m.addMetric('RolloutsStarted', MetricUnit.Count, 1);
      }),
    );
    converter.ingest(emf((m) => m.addMetric('DevicesUpdated', MetricUnit.Count, 3)));
    expect(await sample(registry, 'fleet_devices_updated_total', { service: 'fleet-rollout' })).toBe(5);
    expect(await sample(registry, 'fleet_rollouts_started_total')).toBe(1);
    const text = await registry.metrics();
    expect(text).toContain('# TYPE fleet_devices_updated_total counter');
    expect(text).toContain('fleet_devices_updated_total{service="fleet-rollout"} 5');
  });

  it('observes each millisecond value in a _ms histogram', async () => {
    const registry = new Registry();
    const converter = new EmfToPrometheus(registry);
    const ingested = converter.ingest(
      emf((m) => {
        m.addMetric('HealthCheckLatency', MetricUnit.Milliseconds, 12);
        m.addMetric('HealthCheckLatency', MetricUnit.Milliseconds, 700);
        m.addMetric('HealthCheckLatency', MetricUnit.Milliseconds, 40_000);
      }),
    );
    expect(ingested).toEqual({ values: 3, skipped: [] });
    const text = await registry.metrics();
    expect(text).toContain('# TYPE fleet_health_check_latency_ms histogram');
    expect(text).toContain('fleet_health_check_latency_ms_count{service="fleet-rollout"} 3');
    expect(text).toContain('fleet_health_check_latency_ms_sum{service="fleet-rollout"} 40712');
    expect(text).toContain('fleet_health_check_latency_ms_bucket{le="25",service="fleet-rollout"} 1');
    expect(text).toContain('fleet_health_check_latency_ms_bucket{le="1000",service="fleet-rollout"} 2');
    expect(text).toContain('fleet_health_check_latency_ms_bucket{le="60000",service="fleet-rollout"} 3');
  });

  it('turns dimensions into labels, one series per value', async () => {
    const registry = new Registry();
    const converter = new EmfToPrometheus(registry);
    converter.ingest(emf((m) => m.addDimension('strategy', 'canary').addMetric('RolloutsStarted', MetricUnit.Count, 1)));
    converter.ingest(emf((m) => m.addDimension('strategy', 'rolling').addMetric('RolloutsStarted', MetricUnit.Count, 2)));
    expect(await sample(registry, 'fleet_rollouts_started_total', { strategy: 'canary' })).toBe(1);
    expect(await sample(registry, 'fleet_rollouts_started_total', { strategy: 'rolling' })).toBe(2);
  });

  it('shows declared metrics at zero before any document names them', async () => {
    const registry = new Registry();
    const converter = new EmfToPrometheus(registry);
    converter.declare('RolloutsCompleted', 'Count', { service: 'fleet-rollout' });
    converter.declare('BatchAdvanceLatency', 'Milliseconds', { service: 'fleet-rollout' });
    const text = await registry.metrics();
    expect(text).toContain('fleet_rollouts_completed_total{service="fleet-rollout"} 0');
    expect(text).toContain('fleet_batch_advance_latency_ms_count{service="fleet-rollout"} 0');
    converter.ingest(emf((m) => m.addMetric('RolloutsCompleted', MetricUnit.Count, 1)));
    expect(await sample(registry, 'fleet_rollouts_completed_total', { service: 'fleet-rollout' })).toBe(1);
  });

  it('skips, and says why, what it cannot keep, and keeps the rest of the document', async () => {
    const registry = new Registry();
    const converter = new EmfToPrometheus(registry);
    converter.ingest(emf((m) => m.addMetric('DevicesFailed', MetricUnit.Count, 1)));
    const ingested = converter.ingest(
      emf((m) => {
        m.addDimension('region', 'eu');
        m.addMetric('DevicesFailed', MetricUnit.Count, 1);
        m.addMetric('PayloadSize', MetricUnit.Percent, 50);
      }),
    );
    expect(ingested.values).toBe(0);
    expect(ingested.skipped).toEqual([
      'DevicesFailed: dimensions [region, service] differ from [service] seen first',
      'PayloadSize: unit Percent has no Prometheus form here',
    ]);
    expect(await sample(registry, 'fleet_devices_failed_total')).toBe(1);
    expect(converter.ingest({ hello: 'world' }).skipped).toEqual(['not an EMF document']);
    expect(converter.ingest(null).skipped).toEqual(['not an EMF document']);
  });
});
