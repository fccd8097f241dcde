/**
 * Approvals: a rollout waits for distinct admins' approvals before it starts
 * (`approvals_required`, cancelled after `approval_deadline_minutes`) and, with
 * `approve_each_batch`, after each batch. Each approval names the admin key that gave it. The
 * deadline passes by moving the host's clock, not by waiting for it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { registerFleet, startPolling, type SimulatedDevice } from '../../agent/simulator/fleet';
import { expectError } from '../support/api';
import { flow } from '../support/flow';

let host: Host;
let f: ReturnType<typeof flow>;
const stops: (() => Promise<void>)[] = [];
/** Two named admin keys besides the host's own. */
const keys: Record<'alice' | 'bob', string> = { alice: '', bob: '' };

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', quiet: true });
  f = flow(host);
  for (const name of ['alice', 'bob'] as const) {
    const created = await f.api('POST', '/api/v1/admin-keys', { body: { name } });
    expect(created.status).toBe(201);
    keys[name] = created.body.key;
  }
});

afterAll(async () => {
  await Promise.all(stops.map((stop) => stop()));
  await host?.stop();
});

async function fleetOf(size: number, image: string): Promise<SimulatedDevice[]> {
  const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size, image, namePrefix: image.split(/[/:]/)[1] });
  stops.push(startPolling(devices, 150));
  return devices;
}

const approve = (id: string, as: keyof typeof keys, comment?: string) =>
  f.api('POST', `/api/v1/rollouts/${id}/approve`, { token: keys[as], body: comment ? { comment } : {} });
const reject = (id: string, as: keyof typeof keys, comment?: string) =>
  f.api('POST', `/api/v1/rollouts/${id}/reject`, { token: keys[as], body: comment ? { comment } : {} });

describe('approvals before the start', () => {
  it('waits for two distinct admins, then starts by itself', async () => {
    await f.createPolicy({ image_pattern: 'approve/two:*', staged_batches: 1, approvals_required: 2 });
    const devices = await fleetOf(3, 'approve/two:1');
    const id = (await f.push('approve/two', '2')).body.rollouts[0].id;
    const waiting = await f.waitForRollout(id, (d) => d.rollout.planned, 'planned');
    expect(waiting.rollout).toMatchObject({ status: 'pending', status_reason: 'waiting for approval' });
    await new Promise((r) => setTimeout(r, 1000));
    expect(devices.every((d) => d.running[0]!.image === 'approve/two:1')).toBe(true);

    const first = await approve(id, 'alice', 'looks good');
    expect(first.status).toBe(200);
    expect(first.body.rollout).toMatchObject({ status: 'pending', status_reason: 'waiting for approval (1 of 2)' });
    expect(first.body.rollout.approvals).toEqual([expect.objectContaining({ name: 'alice', after_batch: 0, comment: 'looks good' })]);
    expectError(await approve(id, 'alice'), 409, 'alice', 'already approved', '1 of 2');

    const second = await approve(id, 'bob');
    expect(second.status).toBe(200);
    expect(second.body.rollout.status).toBe('in_progress');
    const done = await f.waitForStatus(id, 'completed', 30_000);
    expect(done.rollout.approvals.map((a: any) => a.name)).toEqual(['alice', 'bob']);
    expect(devices.every((d) => d.running[0]!.image === 'approve/two:2')).toBe(true);
    const approved = (await f.events(id)).filter((e) => e.type === 'image.rollout_approved');
    expect(approved.map((e) => [e.details.by, e.details.approvals, e.details.approvals_required])).toEqual([
      ['alice', 1, 2],
      ['bob', 2, 2],
    ]);
    expectError(await approve(id, 'alice'), 409, 'not waiting for approval');
  }, 60_000);

  it('a rejection cancels it; nothing is rolled out', async () => {
    await f.createPolicy({ image_pattern: 'approve/no:*', approvals_required: 1 });
    const devices = await fleetOf(2, 'approve/no:1');
    const id = (await f.push('approve/no', '2')).body.rollouts[0].id;
    await f.waitForRollout(id, (d) => d.rollout.planned, 'planned');
    const rejected = await reject(id, 'bob', 'not on a Friday');
    expect(rejected.status).toBe(200);
    expect(rejected.body.rollout).toMatchObject({ status: 'cancelled', status_reason: 'rejected by bob: not on a Friday' });
    const cancelled = (await f.events(id)).find((e) => e.type === 'image.rollout_cancelled');
    expect(cancelled?.details).toMatchObject({ rejected_by: 'bob', after_batch: 0 });
    expect(devices.every((d) => d.running[0]!.image === 'approve/no:1')).toBe(true);
    expectError(await reject(id, 'alice'), 409, 'cancelled');
  });

  it('is cancelled when the approvals have not come by the deadline', async () => {
    await f.createPolicy({ image_pattern: 'approve/late:*', approvals_required: 2, approval_deadline_minutes: 60 });
    await fleetOf(1, 'approve/late:1');
    const id = (await f.push('approve/late', '2')).body.rollouts[0].id;
    const planned = await f.waitForRollout(id, (d) => d.rollout.planned, 'planned');
    expect(Date.parse(planned.rollout.approval_deadline_at) - Date.parse(planned.rollout.created_at)).toBe(3_600_000);
    expect((await approve(id, 'alice')).status).toBe(200);

    host.clock.advance(61 * 60_000);
    const cancelled = await f.waitForStatus(id, 'cancelled', 30_000);
    expect(cancelled.rollout.status_reason).toMatch(/^no approval by the deadline .*: 1 of 2 approvals$/);
    expectError(await approve(id, 'bob'), 409, 'cancelled');
  }, 60_000);

  it('a manual rollout needs its approvals before it can be started', async () => {
    await f.createPolicy({ image_pattern: 'approve/manual:*', update_strategy: 'manual', approvals_required: 1 });
    await fleetOf(1, 'approve/manual:1');
    const id = (await f.push('approve/manual', '2')).body.rollouts[0].id;
    await f.waitForRollout(id, (d) => d.rollout.planned, 'planned');
    expectError(await f.api('POST', `/api/v1/rollouts/${id}/start`, { body: {} }), 409, 'waiting for approval', '0 of 1');
    const approved = await approve(id, 'alice');
    expect(approved.body.rollout).toMatchObject({ status: 'pending', status_reason: 'waiting for an admin to start it' });
    expect((await f.api('POST', `/api/v1/rollouts/${id}/start`, { body: {} })).status).toBe(200);
    await f.waitForStatus(id, 'completed', 30_000);
  }, 60_000);
});

describe('approve_each_batch', () => {
  it('pauses after each batch but the last until an admin approves; resume is no way around it', async () => {
    await f.createPolicy({ image_pattern: 'approve/each:*', staged_batches: 3, batch_delay_minutes: 0, approve_each_batch: true });
    const devices = await fleetOf(10, 'approve/each:1');
    const id = (await f.push('approve/each', '2')).body.rollouts[0].id;

    for (const batch of [1, 2]) {
      const paused = await f.waitForRollout(id, (d) => d.rollout.status === 'paused', `paused after batch ${batch}`, 30_000);
      expect(paused.rollout).toMatchObject({ status_reason: `batch ${batch} completed; waiting for approval`, awaiting_approval: { after_batch: batch } });
      expect(paused.rollout.batches[batch].status).toBe('pending');
      expectError(await f.api('POST', `/api/v1/rollouts/${id}/resume`, { body: {} }), 409, `after batch ${batch}`, 'approve');
      const approved = await approve(id, batch === 1 ? 'alice' : 'bob');
      expect(approved.status).toBe(200);
      expect(approved.body.rollout.status).toBe('in_progress');
      expect(approved.body.rollout).not.toHaveProperty('awaiting_approval');
    }
    const done = await f.waitForStatus(id, 'completed', 30_000);
    expect(done.rollout.approvals.map((a: any) => [a.name, a.after_batch])).toEqual([
      ['alice', 1],
      ['bob', 2],
    ]);
    expect(devices.every((d) => d.running[0]!.image === 'approve/each:2')).toBe(true);
    const types = (await f.events(id)).map((e) => e.type).filter((t) => t.startsWith('image.rollout_') || t.startsWith('image.batch_'));
    expect(types).toEqual([
      'image.rollout_created',
      'image.rollout_started',
      'image.batch_started',
      'image.batch_completed',
      'image.rollout_paused',
      'image.rollout_approved',
      'image.rollout_resumed',
      'image.batch_started',
      'image.batch_completed',
      'image.rollout_paused',
      'image.rollout_approved',
      'image.rollout_resumed',
      'image.batch_started',
      'image.batch_completed',
      'image.rollout_completed',
    ]);
  }, 90_000);

  it('refuses policy settings that do not fit together, naming the field', async () => {
    expectError(await f.api('POST', '/api/v1/policies', { body: { image_pattern: 'approve/bad:*', approval_deadline_minutes: 60 } }), 400, 'approval_deadline_minutes', 'approvals_required');
    expectError(await f.api('POST', '/api/v1/policies', { body: { image_pattern: 'approve/bad:*', approvals_required: 11 } }), 400, 'approvals_required');
    expectError(await f.api('POST', '/api/v1/policies', { body: { image_pattern: 'approve/bad:*', approve_each_batch: 'yes' } }), 400, 'approve_each_batch');
  });
});
