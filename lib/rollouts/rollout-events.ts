/** Rollout-level facts recorded from more than one place. */
import type { Rollout } from '../domain/types';
import { appendEvent } from '../store/events';

/** `image.rollout_started`, keyed by the start time, so recording it again changes nothing. */
export async function recordStarted(rollout: Rollout): Promise<void> {
  await appendEvent({
    type: 'image.rollout_started',
    rollout_id: rollout.id,
    timestamp: rollout.started_at ?? rollout.updated_at,
    order: 1,
    details: {
      image: rollout.image,
      total_devices: rollout.total_devices,
      batches: rollout.batches.map((b) => ({ number: b.number, size: b.size, percentage: b.percentage })),
    },
  });
}
