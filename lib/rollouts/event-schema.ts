/**
 * A rollout event as the API shows it and as notifications carry it: one schema for the events
 * page (lib/rollouts/views.ts, the OpenAPI document) and the notify queue's messages
 * (lib/notifications/messages.ts). A leaf module: the store's event writer reaches the latter.
 */
import { z } from 'zod';
import { eventTypes } from '../domain/types';

export const rolloutEventSchema = z.object({
  id: z.string(),
  type: z.enum(eventTypes),
  rollout_id: z.string(),
  device_uuid: z.string().optional(),
  timestamp: z.string(),
  details: z.record(z.string(), z.unknown()),
});
