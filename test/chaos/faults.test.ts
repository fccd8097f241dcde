/**
 * The chaos run's fault plan on its own: which calls it holds back as slow writes, and that
 * holding some back leaves the failures a seed draws as they were (a seed replays its plan).
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
