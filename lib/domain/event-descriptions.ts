/**
 * What a rollout's event says as a log line. Every fact an operator follows (a rollout created,
 * started, paused and why, resumed, ended; a batch started or completed; a device failing its
 * update or its health check, or rolled back) is an `info` line; a device's ordinary progress is
 * `debug`, so that a rollout of 10,000 devices does not print 30,000 lines at `info`.
 */
import type { EventType, RolloutEvent } from './types';

export interface EventDescription {
  level: 'info' | 'debug';
  message: string;
  /** The correlation keys and the few details a reader filters by. */
  fields: {
    event: EventType;
    rollout_id: string;
    device_uuid?: string;
    batch?: number;
    reason?: string;
  };
}

const debugTypes = new Set<EventType>(['image.webhook_received', 'image.device_scheduled', 'image.device_updated', 'image.health_check_passed']);

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
const count = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
const plural = (n: number, noun: string, nouns = `${noun}s`) => `${n} ${n === 1 ? noun : nouns}`;
const withReason = (message: string, reason: string | undefined) => (reason ? `${message}: ${reason}` : message);

/** `3 healthy, 1 rolled_back` from a batch's status counts, leaving out the statuses nobody is in. */
function countsText(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const parts = Object.entries(value as Record<string, unknown>)
    .filter(([, n]) => typeof n === 'number' && n > 0)
    .map(([status, n]) => `${String(n)} ${status}`);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

function message(event: RolloutEvent): string {
  const d = event.details;
  const reason = text(d.reason);
  const batch = count(d.batch);
  switch (event.type) {
    case 'image.webhook_received': {
      const pushed = `push recorded: ${text(d.repository) ?? '?'}:${text(d.tag) ?? '?'} from ${text(d.registry) ?? 'a registry'}`;
      if (d.digest_source === 'resolved') return `${pushed}, digest ${text(d.digest) ?? '?'} looked up in the registry`;
      return text(d.digest_unresolved) ? `${pushed}; by tag, its digest was not resolved: ${text(d.digest_unresolved)}` : pushed;
    }
    case 'image.rollout_created':
      return `rollout created: ${text(d.image) ?? 'an image'}${text(d.strategy) ? ` (${text(d.strategy)} strategy)` : ''}`;
    case 'image.rollout_started': {
      const devices = count(d.total_devices);
      const batches = Array.isArray(d.batches) ? d.batches.length : undefined;
      const scope = [devices === undefined ? '' : ` to ${plural(devices, 'device')}`, batches === undefined ? '' : ` in ${plural(batches, 'batch', 'batches')}`];
      return `rollout started: ${text(d.image) ?? 'an image'}${scope.join('')}`;
    }
    case 'image.rollout_start_scheduled':
      return `rollout scheduled to start at ${text(d.start_at) ?? '?'}`;
    case 'image.rollout_approved': {
      const stage = count(d.after_batch);
      return `rollout approved by ${text(d.by) ?? 'an admin'}${stage ? ` after batch ${stage}` : ''} (${count(d.approvals) ?? '?'} of ${count(d.approvals_required) ?? '?'})${text(d.comment) ? `: ${text(d.comment)}` : ''}`;
    }
    case 'image.rollout_promoted':
      return withReason(`rollout promoted${d.full ? ' (health checks skipped)' : ''}: the remaining batches start now`, reason);
    case 'image.rollout_paused':
      return `rollout paused: ${reason ?? 'no reason given'}`;
    case 'image.rollout_resumed':
      return `rollout resumed${text(d.paused_for) ? ` (it was paused: ${text(d.paused_for)})` : ''}`;
    case 'image.rollout_completed': {
      const devices = count(d.total_devices);
      return `rollout completed${devices === undefined ? '' : `: ${plural(devices, 'device')}`}`;
    }
    case 'image.rollout_cancelled':
      return withReason('rollout cancelled', reason);
    case 'image.rollout_rolled_back':
      return withReason('rollout rolled back', reason);
    case 'image.rollout_failed':
      return withReason('rollout failed', reason);
    case 'image.batch_started': {
      const devices = count(d.devices);
      const share = count(d.percentage);
      return `batch ${batch ?? '?'} started${devices === undefined ? '' : `: ${plural(devices, 'device')}`}${share === undefined ? '' : ` (${share}%)`}`;
    }
    case 'image.batch_completed': {
      const counts = countsText(d.counts);
      return `batch ${batch ?? '?'} completed${counts ? `: ${counts}` : ''}`;
    }
    case 'image.batch_waiting':
      return `batch ${batch ?? '?'} waits for the maintenance window opening at ${text(d.next_window_at) ?? '?'}`;
    case 'image.device_scheduled':
      return `device scheduled: ${text(d.from_image) ?? '?'} -> ${text(d.to_image) ?? '?'}`;
    case 'image.device_updated':
      return `device updated to ${text(d.image) ?? 'the new image'}`;
    case 'image.device_failed':
      // Skips were recorded as failures with `skipped` before they had a type of their own.
      return withReason(d.skipped ? 'device skipped' : 'device failed to update', reason);
    case 'image.device_retried':
      return withReason(`device scheduled again (attempt ${count(d.attempt) ?? '?'} of ${count(d.attempts_allowed) ?? '?'})`, reason);
    case 'image.health_check_passed':
      return `health check passed${text(d.check) ? ` (${text(d.check)})` : ''}`;
    case 'image.health_check_failed':
      return withReason(`health check failed${text(d.check) ? ` (${text(d.check)})` : ''}`, reason);
    case 'image.device_rolled_back':
      return withReason(`device rolled back to ${text(d.to_image) ?? 'its previous image'}`, reason);
    case 'image.device_skipped':
      return withReason('device skipped', reason);
    case 'image.device_joined':
      return withReason(`device joined batch ${count(d.batch) ?? '?'}${d.reopened ? ', reopening the completed rollout' : ''}`, reason);
  }
}

export function describeEvent(event: RolloutEvent): EventDescription {
  const batch = count(event.details.batch) ?? count(event.details.after_batch);
  const reason = text(event.details.reason);
  return {
    level: debugTypes.has(event.type) ? 'debug' : 'info',
    message: message(event),
    fields: {
      event: event.type,
      rollout_id: event.rollout_id,
      ...(event.device_uuid ? { device_uuid: event.device_uuid } : {}),
      ...(batch === undefined ? {} : { batch }),
      ...(reason ? { reason } : {}),
    },
  };
}
