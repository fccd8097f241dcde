/**
 * How a rollout's devices are split into batches. Percentages are cumulative: [10, 50, 100]
 * means the first batch takes 10% of the devices, the second brings the total to 50%, the last
 * to all of them.
 */
import type { Batch, PolicySettings } from './types';

export const maxStagedBatches = 10;

/**
 * The cumulative percentages for `staged_batches: n`: 10% first, then even steps to 100%
 * (3 batches give the classic 10% → 50% → 100%).
 */
export function stagedPercentages(n: number): number[] {
  if (!Number.isInteger(n) || n < 1 || n > maxStagedBatches) {
    throw new RangeError(`staged_batches must be an integer from 1 to ${maxStagedBatches}`);
  }
  if (n === 1) return [100];
  const percentages = [10];
  for (let k = 1; k < n; k++) {
    percentages.push(Math.max(Math.round((100 * k) / (n - 1)), percentages[k - 1]! + 1));
  }
  return percentages;
}

/** Why a list of cumulative percentages is unusable, or undefined when it is fine. */
export function validatePercentages(percentages: number[]): string | undefined {
  if (percentages.length === 0) return 'must have at least one entry';
  if (percentages.length > 100) return 'must have at most 100 entries';
  for (let i = 0; i < percentages.length; i++) {
    const p = percentages[i]!;
    if (!(p > 0 && p <= 100)) return 'entries must be greater than 0 and at most 100';
    if (i > 0 && p <= percentages[i - 1]!) return 'entries must increase strictly (they are cumulative)';
  }
  if (percentages[percentages.length - 1] !== 100) return 'must end at 100';
  return undefined;
}

/** The batches of the `auto` strategy: everything at once. */
export function effectivePercentages(policy: Pick<PolicySettings, 'update_strategy' | 'batch_percentages'>): number[] {
  return policy.update_strategy === 'auto' ? [100] : policy.batch_percentages;
}

/**
 * Splits `total` devices into batches. A cumulative count rounds up, so a small fleet still gets
 * a first batch of one device; a batch that would be empty is dropped rather than run.
 */
export function planBatches(total: number, percentages: number[]): Batch[] {
  const batches: Batch[] = [];
  let covered = 0;
  for (const percentage of percentages) {
    const cumulative = Math.min(total, Math.ceil((total * percentage) / 100 - 1e-9));
    const size = cumulative - covered;
    if (size <= 0) continue;
    batches.push({ number: batches.length + 1, percentage, size, first_seq: covered, status: 'pending' });
    covered = cumulative;
  }
  return batches;
}

/** How many partitions a rollout's device rows are spread over, from the number of candidates. */
export function shardCountFor(candidates: number): number {
  return Math.min(maxShardCount, Math.max(1, Math.ceil(candidates / 5000)));
}

export const maxShardCount = 32;

/**
 * Devices that join a rollout under way get sequence numbers of their batch's own block, far above
 * any planned one (planning numbers from 0; a rollout has at most 100 batches, each block holding
 * a million joiners, all below the key's nine digits), so a batch stays two ranges per shard
 * however many join it, and the planned batches keep their numbers.
 */
export const joinedSeqBase = 800_000_000;
export const joinedSeqBlock = 1_000_000;

/** The first sequence number of the devices that join batch `number` after planning. */
export function joinedFirstSeq(number: number): number {
  return joinedSeqBase + number * joinedSeqBlock;
}

/** A range of sequence numbers: [first_seq, first_seq + size). */
export interface SeqRange {
  first_seq: number;
  size: number;
}

/** Where a batch's devices are: its planned range, then the block of those that joined it, if any. */
export function seqRangesOf(batch: Pick<Batch, 'number' | 'first_seq' | 'size' | 'joined_devices'>): SeqRange[] {
  const ranges: SeqRange[] = batch.size > 0 ? [{ first_seq: batch.first_seq, size: batch.size }] : [];
  if (batch.joined_devices) ranges.push({ first_seq: joinedFirstSeq(batch.number), size: batch.joined_devices });
  return ranges;
}

/** Every device of the batch: those planned in it and those that joined it. */
export function devicesIn(batch: Pick<Batch, 'size' | 'joined_devices'>): number {
  return batch.size + (batch.joined_devices ?? 0);
}

/** The batch a device belongs to, by its sequence number in the rollout. */
export function batchContaining(batches: readonly Batch[], seq: number): Batch | undefined {
  return batches.find((b) => seqRangesOf(b).some((r) => seq >= r.first_seq && seq < r.first_seq + r.size));
}

/** A rollout that ended early (cancelled, rolled back, failed) leaves no batch pending or in progress. */
export function stopUnfinishedBatches(batches: readonly Batch[], at: string): Batch[] {
  return batches.map((b) => (b.status === 'pending' || b.status === 'in_progress' ? { ...b, status: 'stopped', stopped_at: at } : b));
}
