/**
 * `GET /metrics` on the embedded host after a health-checked staged rollout on a simulated
 * fleet whose queue messages are all delivered more than once: the functions' own counts, one
 * per transition, and latencies, taken from their EMF documents, and the queues' depths; and the
 * route refuses a caller without an admin key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { registerFleet, startHealthServers, startPolling, type SimulatedDevice } from '../../agent/simulator/fleet';
import { waitFor } from '../support/api';
import { flow } from '../support/flow';

const fleetSize = 6;
let host: Host;
let f: ReturnType<typeof flow>;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  // Every queue batch delivered three times (at once, and again later), as SQS may: the counts
  // must still be one per transition.
  host = await startHost({
    port: 0,
    dataDir: ':memory:',
    tickSeconds: 1,
    quiet: true,
    redelivery: { copies: (records) => [{ records: [...records], afterMs: 0 }, { records: [...records], afterMs: 300 }] },
  });
  f = flow(host);
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await host?.stop();
});

/** Prometheus text as `name{labels}` → value, one entry per sample line. */
function samples(text: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    found.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return found;
}

async function scrape(authorization?: string): Promise<{ status: number; contentType: string | null; text: string }> {
  const response = await fetch(`${host.url}/metrics`, authorization ? { headers: { authorization } } : {});
  return { status: response.status, contentType: response.headers.get('content-type'), text: await response.text() };
}

const service = 'service="fleet-rollout"';

describe('GET /metrics', () => {
  let devices: SimulatedDevice[];
  /** The health servers' port, the same on every device's own loopback address. */
  let healthPort: number;

  beforeAll(async () => {
    devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: fleetSize, image: 'metrics/app:v1' });
    const health = await startHealthServers(devices);
    cleanups.push(health.stop);
    healthPort = health.port;
    cleanups.push(startPolling(devices, 100));
  });

  it('refuses a caller without an admin key', async () => {
    expect((await scrape()).status).toBe(401);
    expect((await scrape('Bearer not-a-key')).status).toBe(401);
    expect((await scrape(`Basic ${host.adminApiKey}`)).status).toBe(401);
  });

  it('counts a completed health-checked rollout once, with its latencies and the queue depths', async () => {
    const before = samples((await scrape(`Bearer ${host.adminApiKey}`)).text);
    expect(before.get(`fleet_rollouts_started_total{${service}}`)).toBe(0);

    const policy = await f.api('POST', '/api/v1/policies', {
      body: {
        image_pattern: 'metrics/app:*',
        update_strategy: 'staged',
        staged_batches: 2,
        batch_delay_minutes: 0.01,
        update_timeout_minutes: 5,
        health_check_enabled: true,
        health_check_config: { type: 'http', endpoint: `http://{device_ip}:${healthPort}/health`, expectedStatusCode: 200, timeout: 1, retries: 1 },
      },
    });
    expect(policy.status).toBe(201);
    const accepted = await f.push('metrics/app', 'v2');
    expect(accepted.status).toBe(202);
    const rolloutId = accepted.body.rollouts[0].id;
    const done = await f.waitForStatus(rolloutId, 'completed');
    const batches = done.rollout.batches.length;

    // The completing invocation flushes its metrics as it returns, just after the write a reader sees.
    const scraped = await waitFor(async () => {
      const result = await scrape(`Bearer ${host.adminApiKey}`);
      return samples(result.text).get(`fleet_rollouts_completed_total{${service}}`) === 1 ? result : undefined;
    }, 10_000, 'rollouts completed = 1 on /metrics');
    expect(scraped.status).toBe(200);
    expect(scraped.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const metrics = samples(scraped.text);
    const value = (name: string, labels = service) => metrics.get(`${name}{${labels}}`);

    expect(value('fleet_rollouts_started_total')).toBe(1);
    expect(value('fleet_rollouts_completed_total')).toBe(1);
    expect(value('fleet_rollouts_paused_total')).toBe(0);
    expect(value('fleet_rollouts_cancelled_total')).toBe(0);
    expect(value('fleet_devices_updated_total')).toBe(fleetSize);
    expect(value('fleet_devices_healthy_total')).toBe(fleetSize);
    expect(value('fleet_devices_unhealthy_total')).toBe(0);
    expect(value('fleet_devices_failed_total')).toBe(0);
    expect(value('fleet_devices_rolled_back_total')).toBe(0);

    // One probe per device; one batch-advance observation per batch completed.
    expect(value('fleet_health_check_latency_ms_count')).toBe(fleetSize);
    expect(value('fleet_health_check_latency_ms_sum')).toBeGreaterThan(0);
    expect(value('fleet_health_check_latency_ms_bucket', `le="+Inf",${service}`)).toBe(fleetSize);
    expect(value('fleet_batch_advance_latency_ms_count')).toBe(batches);
    expect(value('fleet_batch_advance_latency_ms_sum')).toBeGreaterThanOrEqual(0);

    // Every queue of the manifest, and its dead-letter queue, empty of failures.
    for (const queue of Object.keys(host.queueUrls)) {
      expect(value('fleet_queue_messages_visible', `queue="${queue}"`), queue).toBeGreaterThanOrEqual(0);
      expect(value('fleet_queue_messages_in_flight', `queue="${queue}"`), queue).toBeGreaterThanOrEqual(0);
      expect(value('fleet_dead_letter_queue_messages', `queue="${queue}"`), `${queue} DLQ`).toBe(0);
    }
  });
});
