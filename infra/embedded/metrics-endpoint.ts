/**
 * `GET /metrics` on the embedded host: the functions' EMF documents, taken from lib/metrics.ts's
 * sink rather than stdout (which they would drown), kept as Prometheus counters and histograms,
 * plus each queue's depth read at scrape time. A route of the host, not of the manifest: on AWS
 * the same figures are CloudWatch's, on the stack's dashboard.
 *
 * It takes an admin key (`Authorization: Bearer <key>`), as the admin API does: queue depths and
 * rollout counts say what the fleet is doing, and the host may listen beyond loopback.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { Registry } from 'prom-client';
import { bearerTokenOf } from '../../lib/secrets';
import type { HostRoute, HostRouteResponse } from './http-gateway';
import { EmfToPrometheus } from './emf-prometheus';
import { registerQueueDepthGauges } from './queue-gauges';
import type { Logger } from './logger';

export interface MetricsEndpointOptions {
  sqs: SQSClient;
  queues: Readonly<Record<string, string>>;
  deadLetterQueues: Readonly<Record<string, string>>;
  /** Metrics to show at zero before the first document names them: EMF name → unit. */
  known: Readonly<Record<string, string>>;
  /** The labels every document carries (the default `service` dimension), for the known metrics. */
  defaultLabels: Readonly<Record<string, string>>;
  /** Whether the bearer token is an admin key. */
  isAdminKey: (token: string) => Promise<boolean>;
  logger: Logger;
}

export interface MetricsEndpoint {
  /** Where the functions' EMF documents go (lib/metrics.ts `sendEmfTo`). */
  ingest(document: unknown): void;
  route: HostRoute;
}

const text = (statusCode: number, body: string, contentType = 'text/plain; charset=utf-8', headers: Record<string, string> = {}): HostRouteResponse => ({
  statusCode,
  headers: { 'content-type': contentType, ...headers },
  body,
});

export function createMetricsEndpoint(options: MetricsEndpointOptions): MetricsEndpoint {
  const registry = new Registry();
  const converter = new EmfToPrometheus(registry);
  for (const [name, unit] of Object.entries(options.known)) converter.declare(name, unit, { ...options.defaultLabels });
  registerQueueDepthGauges({ registry, sqs: options.sqs, queues: options.queues, deadLetterQueues: options.deadLetterQueues });
  const warned = new Set<string>();

  return {
    ingest(document) {
      for (const reason of converter.ingest(document).skipped) {
        // Once per reason: a metric that cannot be kept would otherwise warn on every flush.
        if (warned.has(reason)) continue;
        warned.add(reason);
        options.logger.warn('a metric is left out of /metrics', { reason });
      }
    },
    route: {
      method: 'GET',
      path: '/metrics',
      async handle(headers) {
        const token = bearerTokenOf(headers.authorization);
        if (!token || !(await options.isAdminKey(token))) {
          return text(401, 'an admin key is required: Authorization: Bearer <admin key>\n', undefined, { 'www-authenticate': 'Bearer' });
        }
        try {
          return text(200, await registry.metrics(), registry.contentType);
        } catch (error) {
          // The queue depths are read now: an SQS emulator that does not answer fails the scrape.
          options.logger.warn('GET /metrics failed', { error });
          return text(503, 'the metrics could not be read; see the host log\n');
        }
      },
    },
  };
}
