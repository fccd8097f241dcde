/**
 * The embedded host's twin of CloudWatch's EMF ingestion: it reads the EMF documents the
 * functions flush (lib/metrics.ts) and keeps their figures as Prometheus metrics, so that
 * `GET /metrics` shows what the CloudWatch dashboard shows on AWS, from the same emit calls.
 *
 * A Count becomes a counter, `fleet_<snake_name>_total`, increased by the sum of the document's
 * values; a duration becomes a histogram named after its unit (`fleet_<snake_name>_ms`), with
 * each value observed. The document's dimensions become labels. A metric keeps the labels it was
 * first seen with: a document naming other dimensions for it is skipped (CloudWatch would keep it
 * as another metric; Prometheus refuses a second label set under one name).
 */
import { Counter, Histogram, type Registry } from 'prom-client';

/** EMF as Powertools writes it; only what the conversion reads is required. */
export interface EmfDocument {
  _aws: { Timestamp: number; CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit?: string }[] }[] };
  [key: string]: unknown;
}

/** Units kept as histograms, and the suffix their name takes. */
const histogramUnits: Record<string, string> = { Milliseconds: 'ms', Seconds: 'seconds', Bytes: 'bytes' };

/**
 * Bucket bounds in the unit observed: the health checks run from milliseconds to minutes (4
 * attempts of up to 60 s), batch advance from a second to the tick's 30 s and beyond.
 */
export const defaultBuckets: Record<string, number[]> = {
  ms: [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000],
  seconds: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
  bytes: [1_024, 16_384, 65_536, 262_144, 1_048_576],
};

/** `HealthCheckLatency` → `health_check_latency`. */
export function snakeCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .toLowerCase();
}

export interface Ingested {
  /** Values taken, counting each value of a multi-value metric. */
  values: number;
  /** Why metrics of the document were left out, one line each. */
  skipped: string[];
}

type Kept = { kind: 'counter'; metric: Counter<string>; labels: string[] } | { kind: 'histogram'; metric: Histogram<string>; labels: string[] };

export class EmfToPrometheus {
  readonly #registry: Registry;
  readonly #prefix: string;
  readonly #kept = new Map<string, Kept>();

  constructor(registry: Registry, prefix = 'fleet') {
    this.#registry = registry;
    this.#prefix = prefix;
  }

  /**
   * Registers a metric before any document names it, at zero for the given labels, so that a
   * scrape shows it (a counter at 0 says "none yet", which an absent series does not).
   */
  declare(name: string, unit: string, labels: Record<string, string> = {}): void {
    const kept = this.#metricFor(name, unit, Object.keys(labels).sort());
    if (typeof kept === 'string') throw new Error(kept);
    if (kept.kind === 'counter') kept.metric.inc(labels, 0);
    else kept.metric.zero(labels);
  }

  ingest(document: unknown): Ingested {
    const ingested: Ingested = { values: 0, skipped: [] };
    if (!isEmfDocument(document)) {
      ingested.skipped.push('not an EMF document');
      return ingested;
    }
    for (const directive of document._aws.CloudWatchMetrics) {
      const labelNames = [...new Set(directive.Dimensions.flat())].sort();
      const labels: Record<string, string> = {};
      for (const name of labelNames) labels[name] = String(document[name] ?? '');
      for (const { Name, Unit } of directive.Metrics) {
        const raw = document[Name];
        const values = (Array.isArray(raw) ? raw : [raw]).filter((value): value is number => typeof value === 'number' && Number.isFinite(value));
        if (values.length === 0) {
          ingested.skipped.push(`${Name}: no numeric value`);
          continue;
        }
        const kept = this.#metricFor(Name, Unit ?? 'None', labelNames);
        if (typeof kept === 'string') {
          ingested.skipped.push(kept);
          continue;
        }
        if (kept.kind === 'counter') {
          kept.metric.inc(labels, values.reduce((sum, value) => sum + value, 0));
        } else {
          for (const value of values) kept.metric.observe(labels, value);
        }
        ingested.values += values.length;
      }
    }
    return ingested;
  }

  /** The Prometheus metric an EMF metric is kept in, made on first sight; or why it cannot be. */
  #metricFor(name: string, unit: string, labels: string[]): Kept | string {
    const existing = this.#kept.get(name);
    if (existing) {
      return existing.labels.join(',') === labels.join(',') ? existing : `${name}: dimensions [${labels.join(', ')}] differ from [${existing.labels.join(', ')}] seen first`;
    }
    const base = `${this.#prefix}_${snakeCase(name)}`;
    const help = `${name} (EMF, unit ${unit})`;
    let kept: Kept;
    if (unit === 'Count') {
      kept = { kind: 'counter', labels, metric: new Counter({ name: `${base}_total`, help, labelNames: labels, registers: [this.#registry] }) };
    } else {
      const suffix = histogramUnits[unit];
      if (!suffix) return `${name}: unit ${unit} has no Prometheus form here`;
      kept = { kind: 'histogram', labels, metric: new Histogram({ name: `${base}_${suffix}`, help, labelNames: labels, buckets: defaultBuckets[suffix]!, registers: [this.#registry] }) };
    }
    this.#kept.set(name, kept);
    return kept;
  }
}

function isEmfDocument(value: unknown): value is EmfDocument {
  if (typeof value !== 'object' || value === null) return false;
  const aws = (value as { _aws?: unknown })._aws;
  if (typeof aws !== 'object' || aws === null) return false;
  const directives = (aws as { CloudWatchMetrics?: unknown }).CloudWatchMetrics;
  return (
    Array.isArray(directives) &&
    directives.every(
      (directive) =>
        typeof directive === 'object' &&
        directive !== null &&
        Array.isArray(directive.Dimensions) &&
        directive.Dimensions.every((set: unknown) => Array.isArray(set) && set.every((name) => typeof name === 'string')) &&
        Array.isArray(directive.Metrics) &&
        directive.Metrics.every((metric: unknown) => typeof metric === 'object' && metric !== null && typeof (metric as { Name?: unknown }).Name === 'string'),
    )
  );
}
