/**
 * The stack's CloudWatch dashboard: the functions' own metrics (lib/metrics.ts, EMF in namespace
 * FleetRollout), then, for each queue of the manifest, its backlog and the age of its oldest
 * message, then every dead-letter queue's depth beside the alarms on them. The embedded host
 * serves the same functions' figures at `GET /metrics`.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';
import { countMetrics, latencyMetrics, metricsNamespace, metricsService, type CountMetric, type LatencyMetric } from '../../lib/metric-names';
import type { QueueName } from '../manifest';
import type { DeployedQueue } from './stack';

export interface DashboardProps {
  name: string;
  queues: Readonly<Record<QueueName, DeployedQueue>>;
  alarms: readonly cloudwatch.IAlarm[];
}

const period = Duration.minutes(5);
const width = 24;

/** One of the functions' metrics: Powertools adds the `service` dimension to each. */
function fleetMetric(name: CountMetric | LatencyMetric, statistic: string, label?: string): cloudwatch.Metric {
  return new cloudwatch.Metric({ namespace: metricsNamespace, metricName: name, dimensionsMap: { service: metricsService }, statistic, period, ...(label ? { label } : {}) });
}

const rolloutCounts = countMetrics.filter((name) => name.startsWith('Rollouts'));
const deviceCounts = countMetrics.filter((name) => name.startsWith('Devices'));

export function createCloudWatchDashboard(scope: Construct, id: string, props: DashboardProps): cloudwatch.Dashboard {
  const dashboard = new cloudwatch.Dashboard(scope, id, { dashboardName: props.name, defaultInterval: Duration.hours(3) });
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({ title: 'Rollouts', left: rolloutCounts.map((name) => fleetMetric(name, 'Sum')), width: width / 2, stacked: true }),
    new cloudwatch.GraphWidget({ title: 'Devices', left: deviceCounts.map((name) => fleetMetric(name, 'Sum')), width: width / 2, stacked: true }),
  );
  dashboard.addWidgets(
    ...latencyMetrics.map(
      (name) =>
        new cloudwatch.GraphWidget({
          title: `${name} (ms)`,
          left: ['p50', 'p90', 'Maximum'].map((statistic) => fleetMetric(name, statistic, `${name} ${statistic}`)),
          width: width / latencyMetrics.length,
        }),
    ),
  );
  const queues = Object.entries(props.queues) as [QueueName, DeployedQueue][];
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Messages waiting (ApproximateNumberOfMessagesVisible)',
      left: queues.map(([name, { queue }]) => queue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum', label: name })),
      width: width / 2,
    }),
    new cloudwatch.GraphWidget({
      title: 'Oldest message age (s, ApproximateAgeOfOldestMessage)',
      left: queues.map(([name, { queue }]) => queue.metricApproximateAgeOfOldestMessage({ period, statistic: 'Maximum', label: name })),
      width: width / 2,
    }),
  );
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Dead-letter queues (messages that failed for good)',
      left: queues.map(([name, { deadLetterQueue }]) => deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum', label: `${name} DLQ` })),
      width: width / 2,
    }),
    new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [...props.alarms], width: width / 2 }),
  );
  return dashboard;
}
