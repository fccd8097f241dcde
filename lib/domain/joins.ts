/**
 * Fleet membership during a rollout: a device registered, or newly matching the policy's
 * `device_selector`, while a rollout of its repository is under way joins it. It goes into the
 * batch under way when that batch has not completed, else into the next one; once every batch
 * has completed (the rollout too), into the last one, which opens again for it, so the device gets
 * the new image at once and the last batch's health check (and rollback) with it. Pure: the
 * caller reads and writes.
 */
import { batchDeadline } from './pacing';
import { matchesSelector } from './labels';
import { rolloutRank } from './push-order';
import type { Batch, Rollout, TargetApp } from './types';

export type JoinPlace = { batch: number; reopens: boolean } | { refusal: string };

/** Which batch a device joining the rollout now goes into, or why it cannot join. */
export function joinPlace(rollout: Pick<Rollout, 'id' | 'status' | 'planning' | 'batches' | 'current_batch'>): JoinPlace {
  if (!rollout.planning.done) return { refusal: `rollout ${rollout.id} is still being planned` };
  if (rollout.batches.length === 0) return { refusal: `rollout ${rollout.id} has no batches` };
  if (rollout.status === 'completed') return { batch: rollout.batches.length, reopens: true };
  if (rollout.status !== 'in_progress' && rollout.status !== 'paused') return { refusal: `rollout ${rollout.id} is ${rollout.status}` };
  if (rollout.current_batch === 0) return { batch: 1, reopens: false };
  const current = rollout.batches[rollout.current_batch - 1];
  if (!current) return { refusal: `rollout ${rollout.id} has no batch ${rollout.current_batch}` };
  if (current.status === 'in_progress' || current.status === 'pending') return { batch: current.number, reopens: false };
  if (current.status === 'completed') {
    const next = rollout.batches[current.number];
    return next ? { batch: next.number, reopens: false } : { batch: current.number, reopens: true };
  }
  return { refusal: `batch ${current.number} of rollout ${rollout.id} is ${current.status}` };
}

/**
 * Why the device's app does not join the rollout, or undefined when it does: the rollout's
 * repository, its selector, and the newer pushes that may have taken the app over decide, as they
 * decide for the devices planning records (lib/rollouts/plan.ts).
 */
export function joinRefusal(
  rollout: Pick<Rollout, 'id' | 'repository' | 'image' | 'digest' | 'status' | 'policy' | 'created_at' | 'pushed_at'>,
  device: { labels?: Record<string, string>; target_apps: TargetApp[]; target_set_by?: Record<string, string>; rollouts?: Record<string, { rollout_id: string }> },
  appName: string,
  sameRepository: (image: string) => boolean,
): string | undefined {
  const app = device.target_apps.find((a) => a.name === appName);
  if (!app) return `the device has no app named ${appName}`;
  if (!sameRepository(app.image)) return `app ${appName} runs another repository (${app.image})`;
  if (!matchesSelector(device.labels, rollout.policy.device_selector ?? {})) return 'its labels do not match the policy\'s device_selector';
  if (device.rollouts?.[appName]?.rollout_id === rollout.id) return `app ${appName} is in the rollout already`;
  const rank = rolloutRank(rollout);
  const setBy = device.target_set_by?.[appName];
  if (setBy === rank) return `app ${appName} was moved by the rollout already`;
  if (setBy !== undefined && setBy > rank) return `a newer push of ${rollout.repository} has taken app ${appName} over`;
  // On the pushed digest there is nothing to pull. Under a tag alone, a device under way may run
  // older content of the tag and is moved (as planning does); a completed rollout is not opened
  // again for a device already targeting its image.
  if (app.image === rollout.image && (rollout.digest !== undefined || rollout.status === 'completed')) return `app ${appName} targets ${rollout.image} already`;
  return undefined;
}

/**
 * The rollout once a device has joined batch `number`: the batch counts one more joined device
 * (the next sequence number of its block, see `joinedFirstSeq`) and the rollout one more device.
 * A batch under way gets time for the joiner to update (its deadline is never brought forward),
 * and its health checks and rollbacks are asked for again once the joiner has reported, so it is
 * checked like the others; a completed batch (and rollout) opens again for it.
 */
export function withJoiner(rollout: Rollout, place: { batch: number; reopens: boolean }, now: Date): Rollout {
  const at = now.toISOString();
  const batch = rollout.batches[place.batch - 1]!;
  const joined: Batch = { ...batch, joined_devices: (batch.joined_devices ?? 0) + 1 };
  const next: Rollout = { ...rollout, total_devices: rollout.total_devices + 1, version: rollout.version + 1, updated_at: at };
  if (place.reopens || batch.status === 'in_progress') {
    const deadline = batchDeadline(now, rollout.policy, 1);
    joined.deadline_at = batch.status === 'in_progress' && batch.deadline_at && batch.deadline_at > deadline ? batch.deadline_at : deadline;
    joined.schedule_requested_at = at;
    delete joined.health_checks_requested_at;
    delete joined.rollbacks_requested_at;
    next.wake_requested_for = joined.deadline_at;
  }
  if (place.reopens) {
    joined.status = 'in_progress';
    delete joined.completed_at;
    next.current_batch = batch.number;
    if (rollout.status === 'completed') {
      // The completion's sweep only recounts (a completed rollout reverts nothing); its next
      // completion sweeps again.
      next.status = 'in_progress';
      delete next.completed_at;
      delete next.sweep;
    }
  }
  next.batches = rollout.batches.map((b) => (b.number === batch.number ? joined : b));
  return next;
}
