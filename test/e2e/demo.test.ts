/**
 * `npm run demo`, run in-process on a small fleet: the embedded host, devices with real health
 * endpoints, a push, the rollout watched to its end. The outcome follows the share of unhealthy
 * devices against the policy's threshold; unhealthy devices end on the old image, the others on
 * the new one; the output shows each batch's progress and a summary.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import type { DemoOptions, DemoSummary } from '../../agent/simulator/demo';

const oldImage = 'demo/app:1.0.0';
const newImage = 'demo/app:1.1.0';

async function demo(options: DemoOptions): Promise<{ summary: DemoSummary; output: string }> {
  // Each run starts its own host, and lib/ builds its clients once per module registry.
  vi.resetModules();
  const { runDemo } = await import('../../agent/simulator/demo');
  const stream = new PassThrough();
  let output = '';
  stream.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const summary = await runDemo(options, stream);
  return { summary, output };
}

describe('the demo', () => {
  it('completes when the unhealthy share stays under the threshold, rolling those devices back', async () => {
    // 12 devices in batches of 2, 4 and 6; 3 unhealthy, spread evenly: at most 25% fail at any point.
    const { summary, output } = await demo({ devices: 12, fail: 0.25, batches: 3, delaySeconds: 0.5, maxFailureRate: 0.5 });

    expect(summary.status).toBe('completed');
    expect(summary.batches.map((b) => [b.size, b.status])).toEqual([
      [2, 'completed'],
      [4, 'completed'],
      [6, 'completed'],
    ]);
    expect(summary.counts).toMatchObject({ healthy: 9, rolled_back: 3, pending: 0, scheduled: 0, updated: 0, failed: 0 });
    expect(summary.failureRate).toBe(0.25);

    const unhealthy = summary.devices.filter((d) => d.unhealthyOnNewImage);
    expect(unhealthy).toHaveLength(3);
    for (const device of unhealthy) expect(device).toMatchObject({ status: 'rolled_back', image: oldImage });
    for (const device of summary.devices.filter((d) => !d.unhealthyOnNewImage)) expect(device).toMatchObject({ status: 'healthy', image: newImage });
    expect(summary.images).toEqual({ [newImage]: 9, [oldImage]: 3 });

    // Plain lines, no escapes: the stream is not a terminal.
    expect(output).not.toMatch(/\x1b\[/);
    expect(output).toMatch(/batch 1  █{20}  2\/2  healthy 2  · done/);
    expect(output).toMatch(/batch 3  [█▓]{20}  6\/6  healthy 4  rolled back 2  · done/);
    expect(output).toMatch(/device-\d+ failed its health check: HTTP 503/);
    expect(output).toMatch(/device-\d+ rolled back to demo\/app:1\.0\.0/);
    expect(output).toMatch(/Rollout completed in [\d.]+ s/);
    expect(output).toMatch(/failure rate 25%, within the policy's maximum of 50%/);
    expect(output).toMatch(/ 9 devices {2}demo\/app:1\.1\.0/);
    expect(output).toMatch(/ 3 devices {2}demo\/app:1\.0\.0 {2}\(rolled back: device-\d+, device-\d+, device-\d+\)/);
  });

  it('ends paused when the unhealthy share passes the threshold, and says how to go on', async () => {
    // Half the devices unhealthy, spread evenly: one of the first batch's two fails, 50% > 20%.
    const { summary, output } = await demo({ devices: 12, fail: 0.5, batches: 3, delaySeconds: 0.5, maxFailureRate: 0.2 });

    expect(summary.status).toBe('paused');
    expect(summary.statusReason).toMatch(/failure rate 50\.0% exceeds the policy's maximum of 20\.0%/);
    expect(summary.batches.map((b) => b.status)).toEqual(['completed', 'pending', 'pending']);
    expect(summary.counts).toMatchObject({ healthy: 1, rolled_back: 1, pending: 10 });

    const firstBatch = summary.devices.filter((d) => d.batch === 1);
    expect(firstBatch.map((d) => [d.unhealthyOnNewImage, d.status, d.image]).sort()).toEqual([
      [false, 'healthy', newImage],
      [true, 'rolled_back', oldImage],
    ]);
    // The rest was never touched, unhealthy or not.
    for (const device of summary.devices.filter((d) => d.batch !== 1)) expect(device).toMatchObject({ status: 'pending', image: oldImage });
    expect(summary.devices.filter((d) => d.unhealthyOnNewImage)).toHaveLength(6);
    expect(summary.images).toEqual({ [newImage]: 1, [oldImage]: 11 });

    expect(output).toMatch(/batch 1  [█▓]{20}  2\/2  healthy 1  rolled back 1  · done/);
    expect(output).toMatch(/rollout paused: failure rate 50\.0% exceeds/);
    // In the order it happened, no event between them, and with no next batch announced: a paused
    // rollout has none due. A progress line (no `+N.Ns` time) may be drawn between the two when
    // they were read on two polls of the API.
    expect(output).toMatch(/batch 1 completed\n(?: {9}[^+\n][^\n]*\n)*[^\n]*rollout paused: failure rate/);
    expect(output).not.toMatch(/next one starts in/);
    expect(output).toMatch(/Rollout paused after batch 1 of 3 in [\d.]+ s/);
    expect(output).toMatch(/The rollout stopped itself/);
    expect(output).toContain(`/rollouts/${summary.rolloutId}/resume`);
  });
});
