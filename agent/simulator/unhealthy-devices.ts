/**
 * Which devices the demo makes unhealthy on the new image. The choice is made over the rollout's
 * plan (devices in batch order), because whether a rollout pauses depends on how many failures
 * each batch meets, not on which device it is: spreading them evenly through the plan, or picking
 * them with a seed, makes the outcome the same on every run.
 */

import type { AdminClient } from '../../client/admin-client';
import type { SimulatedDevice } from './fleet';

/**
 * Makes `count` devices unhealthy on the new image, positioned in the rollout's plan: spread
 * evenly, or at random with a seed. Returns their uuids.
 */
export async function makeUnhealthy(api: AdminClient, rolloutId: string, devices: SimulatedDevice[], count: number, seed?: number): Promise<Set<string>> {
  const plan = await api.rolloutDevices(rolloutId);
  const n = Math.min(count, plan.length);
  const positions = seed === undefined ? spreadEvenly(plan.length, n) : pickWithSeed(plan.length, n, seed);
  const chosen = new Set(positions.map((p) => plan[p]!.device_uuid));
  for (const device of devices) device.behaviour.unhealthyOnNewImage = chosen.has(device.uuid);
  return chosen;
}

/** Positions `0 … total-1` of `count` devices spread evenly, each in the middle of its share. */
export function spreadEvenly(total: number, count: number): number[] {
  checkCount(total, count);
  return Array.from({ length: count }, (_, i) => Math.floor(((i + 0.5) * total) / count));
}

/** `count` distinct positions of `0 … total-1`, at random but the same for the same seed. */
export function pickWithSeed(total: number, count: number, seed: number): number[] {
  checkCount(total, count);
  const random = mulberry32(seed);
  const positions = Array.from({ length: total }, (_, i) => i);
  // The first `count` steps of a Fisher–Yates shuffle.
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (total - i));
    [positions[i], positions[j]] = [positions[j]!, positions[i]!];
  }
  return positions.slice(0, count).sort((a, b) => a - b);
}

/** How many of `total` devices a share makes unhealthy. */
export function unhealthyCount(total: number, share: number): number {
  return Math.min(total, Math.max(0, Math.round(total * share)));
}

function checkCount(total: number, count: number): void {
  if (!Number.isInteger(count) || count < 0 || count > total) throw new RangeError(`cannot choose ${count} of ${total} devices`);
}

/** A small seedable generator: good enough to pick devices, and the same everywhere. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
