/**
 * A small chaos run (test/chaos/chaos-run.ts) as part of `npm test`: a few rollouts over a small
 * fleet with faults in the SDK calls, every queue batch delivered twice, the host killed once
 * right after a write, racing pushes and admin actions; then every invariant the checker knows.
 * It asserts that the faults really happened, so that it cannot pass by not testing anything.
 */
import { describe, expect, it } from 'vitest';
import { runChaos, summaryLine } from './chaos-run';

describe('a chaos run', () => {
  it('keeps every invariant through faults, duplicates and a crash', async () => {
    // Most runs end in about 30 s. The time allowed is longer than the orchestration queue's
    // visibility timeout (180 s): a rollout whose command failed waits that long for its retry.
    const result = await runChaos({ rollouts: 3, devices: 12, seed: 20261201, faultRate: 0.05, crashes: 1, timeoutMs: 240_000 });
    console.log(summaryLine(result));
    expect(result.violations).toEqual([]);
    expect(result.rollouts).toBeGreaterThanOrEqual(3);
    expect(result.faults).toBeGreaterThan(0);
    expect(result.faultsAfterWrite).toBeGreaterThan(0);
    expect(result.duplicates).toBeGreaterThan(0);
    expect(result.crashes).toBe(1);
    expect(result.transitions).toBeGreaterThan(0);
  }, 330_000);
});
