/**
 * The pure parts of named admin keys and of deleting a device: which credential a bearer token is
 * shaped like, which names a key may have, and which of a deleted device's rows leave their rollout.
 */
import { describe, expect, it } from 'vitest';
import { adminKeySchema, isReservedName } from '../../lib/admin-keys';
import { deletedDeviceReason, leavesWithDevice } from '../../lib/domain/device-removal';
import { describeEvent } from '../../lib/domain/event-descriptions';
import { deviceStatusesLeadingTo, emptyCounts, failureRate, isUpdatePhaseOver, rolloutStatistics } from '../../lib/domain/rollout-progress';
import type { Batch, DeviceRolloutStatus, Rollout, RolloutStatus } from '../../lib/domain/types';
import { adminKeyIdOf, deviceOfToken, newAdminKey, newDeviceToken, newNamedAdminKey, newProvisioningKey, provisioningKeyIdOf } from '../../lib/secrets';

describe('admin key shapes', () => {
  const id = 'ak_01jz8x9k2m3n4p5q6r7s8t9v0w';

  it('names its id, and is never taken for a device token or a provisioning key', () => {
    for (let i = 0; i < 50; i++) {
      const key = newNamedAdminKey(id);
      expect(key).toMatch(/^fra_01jz8x9k2m3n4p5q6r7s8t9v0w\.[A-Za-z0-9_-]{43}$/);
      expect(adminKeyIdOf(key)).toBe(id);
      expect(deviceOfToken(key)).toBeUndefined();
      expect(provisioningKeyIdOf(key)).toBeUndefined();
    }
  });

  it('tells a configured key, a device token and a provisioning key from a named key', () => {
    for (let i = 0; i < 50; i++) expect(adminKeyIdOf(newAdminKey())).toBeUndefined();
    expect(adminKeyIdOf(newDeviceToken('3f1c2d4e-0000-4000-8000-000000000001'))).toBeUndefined();
    expect(adminKeyIdOf(newProvisioningKey('pvk_01jz8x9k2m3n4p5q6r7s8t9v0w'))).toBeUndefined();
    // The id part is a lower-case ulid, and the secret is not short.
    expect(adminKeyIdOf(`fra_01JZ8X9K2M3N4P5Q6R7S8T9V0W.${'a'.repeat(43)}`)).toBeUndefined();
    expect(adminKeyIdOf('fra_01jz8x9k2m3n4p5q6r7s8t9v0w.short')).toBeUndefined();
    expect(adminKeyIdOf(`fra_01jz8x9k2m3n4p5q6r7s8t9v0w.${'a'.repeat(43)}x\n`)).toBeUndefined();
  });
});

describe('admin key names', () => {
  const accepts = (name: unknown) => adminKeySchema.safeParse({ name }).success;

  it('takes a person or a tool by name', () => {
    for (const name of ['alice', 'alice@example.com', 'ci deploy', 'José Müller', 'ops-team_2', 'a', 'x'.repeat(64), 'v1.2', 'A+B']) expect(accepts(name), name).toBe(true);
  });

  it('refuses empty, long, padded and odd names, and anything but a name', () => {
    for (const name of ['', 'x'.repeat(65), ' alice', 'alice ', '-alice', 'ali;ce', 'ali\nce', 'a\u0000b', '<script>', 42, null]) expect(accepts(name), String(name)).toBe(false);
    expect(adminKeySchema.safeParse({ name: 'alice', extra: 1 }).success).toBe(false);
  });

  it("reserves the configured keys' names, whatever their case", () => {
    for (const name of ['host', 'Host', 'BOOTSTRAP', 'bootstrap']) expect(isReservedName(name), name).toBe(true);
    for (const name of ['hosts', 'bootstrapper', 'constructor', '__proto__', 'toString']) expect(isReservedName(name), name).toBe(false);
  });
});

describe('a deleted device leaving its rollouts', () => {
  const batches = (statuses: Batch['status'][]): Batch[] => statuses.map((status, i) => ({ number: i + 1, percentage: 50 * (i + 1), size: 2, first_seq: 2 * i, status }));
  const rollout = (status: RolloutStatus, healthChecks: boolean, batchStatuses: Batch['status'][] = ['completed', 'in_progress']) => ({
    status,
    batches: batches(batchStatuses),
    policy: { health_check_enabled: healthChecks } as Rollout['policy'],
  });
  const row = (status: DeviceRolloutStatus, batch: number | null = 2) => ({ status, batch });

  it('skips rows the rollout waits on: not yet updated, or updated and waiting for a health check', () => {
    for (const status of ['in_progress', 'paused', 'pending'] as const) {
      expect(leavesWithDevice(rollout(status, false), row('scheduled'))).toBe(true);
      expect(leavesWithDevice(rollout(status, false), row('pending', null))).toBe(true);
      expect(leavesWithDevice(rollout(status, true), row('updated'))).toBe(true);
    }
  });

  it('leaves settled rows as they are: the rollout ended, no health check follows, or the batch is done', () => {
    for (const status of ['completed', 'cancelled', 'rolled_back', 'failed'] as const) expect(leavesWithDevice(rollout(status, true), row('scheduled'))).toBe(false);
    // Without health checks, updated is where a device ends.
    expect(leavesWithDevice(rollout('in_progress', false), row('updated'))).toBe(false);
    expect(leavesWithDevice(rollout('in_progress', true), row('updated', 1))).toBe(false);
    for (const status of ['healthy', 'unhealthy', 'failed', 'rolled_back', 'skipped'] as const) expect(leavesWithDevice(rollout('in_progress', true), row(status))).toBe(false);
    expect(deletedDeviceReason).toBe('device deleted');
  });

  it('lets an updated row become skipped, and never counts a skipped device as processed', () => {
    expect(deviceStatusesLeadingTo('skipped')).toEqual(['pending', 'scheduled', 'updated']);
    // A batch of 4: 2 updated and healthy-checked, 1 failed, 1 deleted while waiting: the rate is 1 of 3.
    const counts = { ...emptyCounts(), healthy: 2, failed: 1, skipped: 1, failures: 1 };
    expect(failureRate(counts)).toBeCloseTo(1 / 3);
    expect(isUpdatePhaseOver({ number: 1, percentage: 100, size: 4, first_seq: 0, status: 'in_progress' }, counts)).toBe(true);
    const stats = rolloutStatistics({ total_devices: 4, current_batch: 1, batches: batches(['in_progress']), planning: { done: true, assigned: 4 } } as unknown as Rollout, new Map([[1, counts]]));
    expect(stats).toMatchObject({ skipped: 1, healthy: 2, failed: 1, pending: 0, progress_percent: 75, failure_rate: 0.3333 });
  });

  it('says a skip in the log at info, with its reason', () => {
    const event = { id: '0000000000000-000000-000000000000', type: 'image.device_skipped' as const, rollout_id: 'ro-1', device_uuid: 'dev-1', timestamp: '2026-12-01T00:00:00.000Z', details: { batch: 1, reason: deletedDeviceReason, was: 'updated' } };
    expect(describeEvent(event)).toEqual({
      level: 'info',
      message: 'device skipped: device deleted',
      fields: { event: 'image.device_skipped', rollout_id: 'ro-1', device_uuid: 'dev-1', batch: 1, reason: 'device deleted' },
    });
  });
});
