/**
 * The chaos run's fault plan on its own: which calls it holds back as slow or overtaken writes,
 * and that holding some back leaves the failures a seed draws as they were (a seed replays its plan).
 */
import { describe, expect, it } from 'vitest';
import { FaultPlan } from './faults';

const deviceUpdate = { Key: { pk: 'DEVICE#d-1', sk: 'DEVICE' } };

describe('slow writes', () => {
  it('hold back only updates of device items, marshalled or not, by 200 ms to 2 s', () => {
    const plan = new FaultPlan(7, 0.2);
    const delays = Array.from({ length: 2000 }, () => plan.delayMs('dynamodb', 'UpdateItemCommand', deviceUpdate));
    const slow = delays.filter((ms) => ms > 0);
    // About 3 × the fault rate of them.
    expect(slow.length / delays.length).toBeGreaterThan(0.5);
    expect(slow.length / delays.length).toBeLessThan(0.7);
    expect(Math.min(...slow)).toBeGreaterThanOrEqual(200);
    expect(Math.max(...slow)).toBeLessThanOrEqual(2000);
    expect(Array.from({ length: 50 }, () => plan.delayMs('dynamodb', 'UpdateItemCommand', { Key: { pk: { S: 'DEVICE#d-1' }, sk: { S: 'DEVICE' } } })).some((ms) => ms > 0)).toBe(true);

    for (const [service, command, input] of [
      ['dynamodb', 'UpdateItemCommand', { Key: { pk: 'ROLLOUT#ro-1', sk: 'ROLLOUT' } }],
      ['dynamodb', 'GetItemCommand', deviceUpdate],
      ['dynamodb', 'PutItemCommand', { Item: { pk: 'DEVICE#d-1', sk: 'DEVICE' } }],
      ['sqs', 'SendMessageCommand', { QueueUrl: 'http://127.0.0.1/q' }],
    ] as const) {
      expect(Array.from({ length: 200 }, () => plan.delayMs(service, command, input)).every((ms) => ms === 0)).toBe(true);
    }
  });

  it('are none at a fault rate of 0', () => {
    const plan = new FaultPlan(7, 0);
    expect(Array.from({ length: 500 }, () => plan.delayMs('dynamodb', 'UpdateItemCommand', deviceUpdate)).every((ms) => ms === 0)).toBe(true);
  });

  it('leave the failures of a seed as they were', () => {
    const failures = (withSlowWrites: boolean) => {
      const plan = new FaultPlan(42, 0.1);
      return Array.from({ length: 500 }, () => {
        if (withSlowWrites) plan.delayMs('dynamodb', 'UpdateItemCommand', deviceUpdate);
        return JSON.stringify(plan.decide('dynamodb', 'UpdateItemCommand') ?? null);
      });
    };
    expect(failures(true)).toEqual(failures(false));
  });
});

describe('overtaken writes', () => {
  const older = '2026-12-01T00:00:00.000Z#a';
  const newer = '2026-12-02T00:00:00.000Z#a';
  const targetWrite = (uuid: string, rank: string, image = '127.0.0.1:5000/chaos/app1:v2', marshalled = false) =>
    marshalled
      ? { Key: { pk: { S: `DEVICE#${uuid}` }, sk: { S: 'DEVICE' } }, ExpressionAttributeValues: { ':rank': { S: rank }, ':pointer': { M: { image: { S: image } } } } }
      : { Key: { pk: `DEVICE#${uuid}`, sk: 'DEVICE' }, ExpressionAttributeValues: { ':rank': rank, ':pointer': { image } } };
  const pushedAgain = new Set(['chaos/app1:v2']);

  /** The first write the plan holds back, among a few tries (it holds about half of them). */
  function firstHeld(plan: FaultPlan, input: object): Promise<string> {
    for (let i = 0; i < 50; i++) {
      const held = plan.hold('dynamodb', 'UpdateItemCommand', input);
      if (held) return held;
    }
    throw new Error('no write held back in 50 tries');
  }

  it("hold the oldest rollout's target write of a tag pushed again until a newer rollout's write of the device lands", async () => {
    const plan = new FaultPlan(3, 0.05, pushedAgain);
    const held = firstHeld(plan, targetWrite('d-1', older, 'chaos/app1:v2@sha256:abc', true));
    let ended: string | undefined;
    void held.then((how) => (ended = how));
    // Another device's write, an older rank's, a write that is no target write: it waits on.
    plan.landed('dynamodb', 'UpdateItemCommand', targetWrite('d-2', newer));
    plan.landed('dynamodb', 'UpdateItemCommand', targetWrite('d-1', '2026-11-30T00:00:00.000Z#z'));
    plan.landed('dynamodb', 'UpdateItemCommand', { Key: { pk: 'DEVICE#d-1', sk: 'DEVICE' }, ExpressionAttributeValues: { ':rank': newer } });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ended).toBeUndefined();
    plan.landed('dynamodb', 'UpdateItemCommand', targetWrite('d-1', newer));
    expect(await held).toBe('overtaken');
  });

  it("never hold a newer rollout's write, another tag's, a write that is no target write, or any at a fault rate of 0", () => {
    const plan = new FaultPlan(3, 0.05, pushedAgain);
    void firstHeld(plan, targetWrite('d-1', older));
    const none = (p: FaultPlan, input: object, command = 'UpdateItemCommand') => Array.from({ length: 50 }, () => p.hold('dynamodb', command, input)).every((held) => held === undefined);
    expect(none(plan, targetWrite('d-2', newer))).toBe(true);
    expect(none(plan, targetWrite('d-2', older, 'chaos/app1:v3'))).toBe(true);
    expect(none(plan, targetWrite('d-2', older), 'GetItemCommand')).toBe(true);
    expect(none(plan, deviceUpdate)).toBe(true);
    expect(none(new FaultPlan(3, 0, pushedAgain), targetWrite('d-1', older))).toBe(true);
  });
});
