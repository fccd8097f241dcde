/** Rollout-level facts recorded from more than one place. */
import type { Rollout } from '../domain/types';
import type { NewEvent } from '../store/events';

/** `image.rollout_started`, written with the write that starts the rollout (its outbox). */
export function startedEvent(rollout: Rollout, order = 1): NewEvent {
  return {
    type: 'image.rollout_started',
    rollout_id: rollout.id,
    timestamp: rollout.started_at ?? rollout.updated_at,
    order,
    details: startedDetails(rollout),
  };
}

export function startedDetails(rollout: Rollout): Record<string, unknown> {
  return {
    image: rollout.image,
    total_devices: rollout.total_devices,
    batches: rollout.batches.map((b) => ({ number: b.number, size: b.size, percentage: b.percentage })),
  };
}
