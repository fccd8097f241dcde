import { describe, expect, it } from 'vitest';
import { effectivePercentages, planBatches, shardCountFor, stagedPercentages, validatePercentages } from '../../lib/domain/batch-plan';

describe('stagedPercentages', () => {
  it('gives the classic 10% → 50% → 100% for three batches', () => {
    expect(stagedPercentages(3)).toEqual([10, 50, 100]);
  });

  it('starts at 10% and ends at 100% for any count', () => {
    expect(stagedPercentages(1)).toEqual([100]);
    expect(stagedPercentages(2)).toEqual([10, 100]);
    expect(stagedPercentages(5)).toEqual([10, 25, 50, 75, 100]);
    const ten = stagedPercentages(10);
    expect(ten[0]).toBe(10);
    expect(ten.at(-1)).toBe(100);
    expect(validatePercentages(ten)).toBeUndefined();
  });

  it('refuses counts outside 1-10', () => {
    expect(() => stagedPercentages(0)).toThrow(/staged_batches/);
    expect(() => stagedPercentages(11)).toThrow(/staged_batches/);
  });
});

describe('validatePercentages', () => {
  it('accepts a strictly increasing cumulative list ending at 100', () => {
    expect(validatePercentages([5, 20, 100])).toBeUndefined();
  });

  it('names what is wrong', () => {
    expect(validatePercentages([])).toMatch(/at least one/);
    expect(validatePercentages([10, 50])).toMatch(/end at 100/);
    expect(validatePercentages([50, 10, 100])).toMatch(/increase/);
    expect(validatePercentages([0, 100])).toMatch(/greater than 0/);
    expect(validatePercentages([10, 150])).toMatch(/at most 100/);
  });
});

describe('planBatches', () => {
  it('splits 20 devices 2 / 8 / 10 for 10% → 50% → 100%', () => {
    const batches = planBatches(20, [10, 50, 100]);
    expect(batches.map((b) => b.size)).toEqual([2, 8, 10]);
    expect(batches.map((b) => b.first_seq)).toEqual([0, 2, 10]);
    expect(batches.every((b) => b.status === 'pending')).toBe(true);
  });

  it('gives a small fleet a first batch of one device rather than none', () => {
    expect(planBatches(3, [10, 50, 100]).map((b) => b.size)).toEqual([1, 1, 1]);
  });

  it('drops batches that would be empty and renumbers the rest', () => {
    const batches = planBatches(1, [10, 50, 100]);
    expect(batches).toHaveLength(1);
    expect(batches[0]).toMatchObject({ number: 1, size: 1, percentage: 10 });
  });

  it('covers every device exactly once', () => {
    for (const total of [0, 1, 7, 99, 100, 1001, 123457]) {
      const batches = planBatches(total, [1, 10, 33, 50, 100]);
      expect(batches.reduce((n, b) => n + b.size, 0)).toBe(total);
      let next = 0;
      for (const b of batches) {
        expect(b.first_seq).toBe(next);
        next += b.size;
      }
    }
  });

  it('has no batch for an empty fleet', () => {
    expect(planBatches(0, [10, 50, 100])).toEqual([]);
  });
});

describe('effectivePercentages', () => {
  it('runs the auto strategy as one batch of everything', () => {
    expect(effectivePercentages({ update_strategy: 'auto', batch_percentages: [10, 50, 100] })).toEqual([100]);
    expect(effectivePercentages({ update_strategy: 'staged', batch_percentages: [10, 50, 100] })).toEqual([10, 50, 100]);
  });
});

describe('shardCountFor', () => {
  it('keeps small rollouts in one partition and spreads large ones', () => {
    expect(shardCountFor(0)).toBe(1);
    expect(shardCountFor(20)).toBe(1);
    expect(shardCountFor(100_000)).toBe(20);
    expect(shardCountFor(1_000_000)).toBe(32);
  });
});
