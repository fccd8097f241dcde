import { describe, expect, it } from 'vitest';
import { describeEvent } from '../../lib/domain/event-descriptions';
import { eventTypes, type EventType, type RolloutEvent } from '../../lib/domain/types';

const event = (type: EventType, details: Record<string, unknown> = {}, device_uuid?: string): RolloutEvent => ({
  id: '0000000000000-000000-000000000000',
  type,
  rollout_id: 'ro-1',
  ...(device_uuid ? { device_uuid } : {}),
  timestamp: '2026-12-01T00:00:00.000Z',
  details,
});

describe('describeEvent', () => {
  it('says each rollout-level fact an operator follows at info, with its correlation keys', () => {
    const reason = "failure rate 40.0% exceeds the policy's maximum of 20.0%";
    expect(describeEvent(event('image.rollout_created', { policy_id: 'po-1', image: 'acme/app:2', strategy: 'staged' }))).toEqual({
      level: 'info',
      message: 'rollout created: acme/app:2 (staged strategy)',
      fields: { event: 'image.rollout_created', rollout_id: 'ro-1' },
    });
    expect(describeEvent(event('image.rollout_started', { image: 'acme/app:2', total_devices: 10, batches: [{}, {}] })).message).toBe(
      'rollout started: acme/app:2 to 10 devices in 2 batches',
    );
    expect(describeEvent(event('image.rollout_paused', { reason, automatic: true, after_batch: 2 }))).toEqual({
      level: 'info',
      message: `rollout paused: ${reason}`,
      fields: { event: 'image.rollout_paused', rollout_id: 'ro-1', batch: 2, reason },
    });
    expect(describeEvent(event('image.rollout_resumed', { paused_for: 'maintenance' })).message).toBe('rollout resumed (it was paused: maintenance)');
    expect(describeEvent(event('image.rollout_resumed')).message).toBe('rollout resumed');
    expect(describeEvent(event('image.rollout_completed', { total_devices: 1, batches: 1 })).message).toBe('rollout completed: 1 device');
    expect(describeEvent(event('image.rollout_cancelled', { reason: 'wrong tag' })).message).toBe('rollout cancelled: wrong tag');
    expect(describeEvent(event('image.rollout_rolled_back', { reason: 'bad build', rolled_back_from: 'completed' })).message).toBe('rollout rolled back: bad build');
    expect(describeEvent(event('image.rollout_failed', { reason: 'processing failed: boom' })).message).toBe('rollout failed: processing failed: boom');
  });

  it('says batch facts with the batch number and what became of its devices', () => {
    expect(describeEvent(event('image.batch_started', { batch: 1, devices: 3, percentage: 30 }))).toEqual({
      level: 'info',
      message: 'batch 1 started: 3 devices (30%)',
      fields: { event: 'image.batch_started', rollout_id: 'ro-1', batch: 1 },
    });
    const counts = { pending: 0, scheduled: 0, updated: 0, healthy: 2, unhealthy: 0, failed: 0, rolled_back: 1, skipped: 0 };
    expect(describeEvent(event('image.batch_completed', { batch: 1, counts })).message).toBe('batch 1 completed: 2 healthy, 1 rolled_back');
  });

  it('says a device going wrong at info and its ordinary progress at debug', () => {
    expect(describeEvent(event('image.health_check_failed', { batch: 2, check: 'http', reason: 'status 500' }, 'dev-1'))).toEqual({
      level: 'info',
      message: 'health check failed (http): status 500',
      fields: { event: 'image.health_check_failed', rollout_id: 'ro-1', device_uuid: 'dev-1', batch: 2, reason: 'status 500' },
    });
    expect(describeEvent(event('image.device_rolled_back', { batch: 2, to_image: 'acme/app:1', reason: 'automatic rollback' }, 'dev-1')).message).toBe(
      'device rolled back to acme/app:1: automatic rollback',
    );
    expect(describeEvent(event('image.device_failed', { batch: 2, reason: 'pull failed' }, 'dev-1')).message).toBe('device failed to update: pull failed');
    for (const type of ['image.device_scheduled', 'image.device_updated', 'image.health_check_passed', 'image.webhook_received'] as const) {
      expect(describeEvent(event(type, { batch: 1 }, 'dev-1')).level).toBe('debug');
    }
  });

  it('says where a push\'s digest came from, or why it rolls out by tag', () => {
    const push = { registry: 'docker-registry', repository: 'acme/app', tag: '2' };
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(describeEvent(event('image.webhook_received', { ...push, digest, digest_source: 'resolved' })).message).toBe(
      `push recorded: acme/app:2 from docker-registry, digest ${digest} looked up in the registry`,
    );
    expect(describeEvent(event('image.webhook_received', { ...push, digest: null, digest_unresolved: 'tag 2 of acme/app not found (404)' })).message).toBe(
      'push recorded: acme/app:2 from docker-registry; by tag, its digest was not resolved: tag 2 of acme/app not found (404)',
    );
    expect(describeEvent(event('image.webhook_received', { ...push, registry: 'distribution', digest, digest_source: 'registry' })).message).toBe('push recorded: acme/app:2 from distribution');
  });

  it('has words for every event type, even with details missing', () => {
    for (const type of eventTypes) {
      const { message } = describeEvent(event(type));
      expect(message).toMatch(/^[a-z]/);
      expect(message).not.toContain('undefined');
    }
  });
});
