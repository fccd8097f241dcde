/**
 * Work cut short: a crash between a device's transition and its event (invariant 9, retries
 * included, and two retries of one device in one millisecond), an admin's start that arrives
 * while the rollout is still being planned, and an ending whose device sweep never ran
 * (invariants 2 and 3). The first half of the interrupted work is done here by hand, through the
 * same store functions the handlers use, lost by a failing SDK call, or held back by a slow one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { registerFleet, startPolling } from '../../agent/simulator/fleet';
import { waitFor } from '../support/api';
import { flow } from '../support/flow';

let host: Host;
let f: ReturnType<typeof flow>;

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true });
  f = flow(host);
});

afterAll(async () => {
  await host?.stop();
});

describe('a crash between a transition and its event', () => {
  it("records the device's event when the device reports again", async () => {
    const { shardOf } = await import('../../lib/store/keys');
    const { findRolloutDevice, transitionRolloutDevice } = await import('../../lib/store/rollout-devices');
    await f.createPolicy({ image_pattern: 'crash/app:*', update_strategy: 'auto', batch_delay_minutes: 0 });
    const [device] = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 1, image: 'crash/app:1' });
    const id = (await f.push('crash/app', '2')).body.rollouts[0].id;
    const detail = await f.waitForRollout(id, (d) => d.devices[0]?.status === 'scheduled', 'the device scheduled');

    // The report's first half: the row moved to updated, then the function died before its event.
    const [row] = await findRolloutDevice(id, shardOf(device!.uuid, detail.rollout.shard_count), device!.uuid);
    const movedAt = new Date().toISOString();
    expect(await transitionRolloutDevice(row!, ['scheduled'], 'updated', { batch: 1, at: movedAt })).toBe('scheduled');
    expect((await f.events(id)).filter((e) => e.type === 'image.device_updated')).toHaveLength(0);

    // The agent's retry of its report (its first one got no answer).
    await device!.poll();
    await device!.poll();
    const updated = (await f.events(id)).filter((e) => e.type === 'image.device_updated');
    expect(updated).toHaveLength(1);
    expect(updated[0]).toMatchObject({ device_uuid: device!.uuid, timestamp: movedAt });
    // Reported again, it is not recorded twice.
    await device!.report([{ name: 'main', image: 'crash/app:2', status: 'running' }]);
    expect((await f.events(id)).filter((e) => e.type === 'image.device_updated')).toHaveLength(1);
  });
});

describe('a crash between health checks and their verdicts', () => {
  it("records a page's verdicts when its check is delivered again", async () => {
    await f.createPolicy({
      image_pattern: 'crash/checked:*',
      update_strategy: 'auto',
      staged_batches: 1,
      batch_delay_minutes: 0,
      health_check_enabled: true,
      health_check_config: { type: 'container', containerName: 'main' },
    });
    const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 3, image: 'crash/checked:1' });
    // The pack of verdicts fails once, after the rows moved: the message fails and comes back.
    const fault = await failOnce(
      'dynamo',
      (command, input) => command === 'PutItemCommand' && Array.isArray(input.Item?.pack) && input.Item.pack.some((e: { type: string }) => e.type === 'image.health_check_passed'),
    );
    const stop = startPolling(devices, 100);
    try {
      const id = (await f.push('crash/checked', '2')).body.rollouts[0].id;
      await f.waitForStatus(id, 'completed', 60_000);
      expect(fault.failed()).toBe(true);
      const passed = (await f.events(id)).filter((e) => e.type === 'image.health_check_passed');
      expect(passed.map((e) => e.device_uuid).sort()).toEqual(devices.map((d) => d.uuid).sort());
    } finally {
      fault.remove();
      await stop();
    }
  });
});

describe('starting a manual rollout while it is being planned', () => {
  it('accepts the start and starts the rollout as soon as planning ends', async () => {
    const { newRollout } = await import('../../lib/rollouts/create-rollouts');
    const { createRollout } = await import('../../lib/store/rollouts');
    const policy = await f.createPolicy({ image_pattern: 'planning/app:*', update_strategy: 'manual' });
    await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 3, image: 'planning/app:1' });
    // A rollout whose planning has not begun yet: its plan command is still on its way (the tick resends it).
    const push = { registry: 'docker-registry', repository: 'planning/app', tag: '2', pushed_at: new Date().toISOString(), delivery_id: 'planning-2' };
    const { rollout } = await createRollout(newRollout(push, policy, new Date()));

    const start = await f.api('POST', `/api/v1/rollouts/${rollout.id}/start`);
    expect(start.status).toBe(202);
    expect(start.body.message).toMatch(/still being planned; it starts as soon as planning ends/);
    const again = await f.api('POST', `/api/v1/rollouts/${rollout.id}/start`);
    expect(again.status).toBe(202);

    const started = await waitFor(async () => {
      const detail = await f.rollout(rollout.id);
      return detail.rollout.status === 'in_progress' || detail.rollout.status === 'completed' ? detail : undefined;
    }, 15_000, 'the rollout started once planned');
    expect(started.rollout.planned).toBe(true);
    expect((await f.events(rollout.id)).filter((e) => e.type === 'image.rollout_started')).toHaveLength(1);
  });
});

describe('a crash between a rollout change and its events', () => {
  it('writes the events the change carried on the next read of the rollout', async () => {
    const { GetCommand, PutCommand } = await import('@aws-sdk/lib-dynamodb');
    const { dynamo } = await import('../../lib/aws-clients');
    const { keys } = await import('../../lib/store/keys');
    const { getRollout } = await import('../../lib/store/rollouts');
    const { listEvents } = await import('../../lib/store/events');
    await f.createPolicy({ image_pattern: 'crash/outbox:*', update_strategy: 'manual' });
    const id = (await f.push('crash/outbox', '2')).body.rollouts[0].id;
    const planned = await f.waitForRollout(id, (d) => d.rollout.planned, 'planned');

    // The change was written with its event in the outbox; the function died before appending it.
    const stored = (await dynamo().send(new GetCommand({ TableName: host.tableName, Key: keys.rollout(id) }))).Item!;
    const at = new Date().toISOString();
    const paused = { type: 'image.rollout_paused', rollout_id: id, timestamp: at, order: stored.version + 1, details: { reason: 'crash test', automatic: false } };
    await dynamo().send(new PutCommand({ TableName: host.tableName, Item: { ...stored, version: stored.version + 1, outbox: [paused] } }));
    // Straight from the table: the API's own read of the rollout would already write it.
    const logged = async () => (await listEvents(id, 1, 100)).events.filter((e) => e.type === 'image.rollout_paused');
    expect(await logged()).toHaveLength(0);

    const rollout = await getRollout(id);
    expect(rollout).not.toHaveProperty('outbox');
    expect(await logged()).toEqual([expect.objectContaining({ timestamp: at, details: { reason: 'crash test', automatic: false } })]);
    // Written once: a second read finds the outbox cleared, and the listing never shows it.
    await getRollout(id);
    expect(await logged()).toHaveLength(1);
    expect(planned.rollout).not.toHaveProperty('outbox');
    expect((await f.rollout(id)).rollout).not.toHaveProperty('outbox');
  });

  it("records a new rollout's first events when the webhook's function died right after creating it", async () => {
    await f.createPolicy({ image_pattern: 'crash/created:*', update_strategy: 'manual' });
    // The first event's write fails: the rollout exists, its events do not, and nobody retries the push.
    const fault = await failOnce('dynamo', (command, input) => command === 'PutItemCommand' && String(input.Item?.sk).startsWith('EVENT#'));
    try {
      expect((await f.push('crash/created', '2')).status).toBe(500);
    } finally {
      fault.remove();
    }
    const listed = (await f.api('GET', '/api/v1/rollouts?image_name=crash/created')).body.rollouts;
    expect(listed).toHaveLength(1);
    const types = (await f.events(listed[0].id)).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['image.webhook_received', 'image.rollout_created']));
  });
});

type SdkCallMatcher = (command: string, input: Record<string, any>) => boolean;

/**
 * Runs `intercept` in place of the handlers' first SDK call on `client` that `matches` (`send`
 * makes the call itself); every other call goes through. `reached` resolves when that call arrives.
 */
async function interceptOnce(
  client: 'dynamo' | 'sqs',
  matches: SdkCallMatcher,
  intercept: (send: () => Promise<unknown>) => Promise<unknown>,
): Promise<{ intercepted: () => boolean; reached: Promise<void>; remove: () => void }> {
  const clients = await import('../../lib/aws-clients');
  const stack = (client === 'dynamo' ? clients.dynamo() : clients.sqs()).middlewareStack as unknown as {
    add(middleware: unknown, options: { step: 'initialize'; name: string }): void;
    remove(name: string): boolean;
  };
  let intercepted = false;
  let arrived = () => {};
  const reached = new Promise<void>((resolve) => (arrived = resolve));
  const name = `interceptOnce-${Math.random()}`;
  stack.add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: { input: Record<string, any> }) => {
      if (intercepted || !matches(String(context.commandName), args.input)) return next(args);
      intercepted = true;
      arrived();
      return intercept(() => next(args));
    },
    { step: 'initialize', name },
  );
  return { intercepted: () => intercepted, reached, remove: () => void stack.remove(name) };
}

/**
 * Fails the first matching SDK call, before it reaches the store or after it was carried out (a
 * lost answer: the write happened, the caller sees an error). With `holdUntil`, the call waits for
 * it first (a write slow on its way).
 */
async function failOnce(
  client: 'dynamo' | 'sqs',
  matches: SdkCallMatcher,
  timing: 'before' | 'after' = 'before',
  holdUntil?: Promise<unknown>,
): Promise<{ failed: () => boolean; reached: Promise<void>; remove: () => void }> {
  const { intercepted, reached, remove } = await interceptOnce(client, matches, async (send) => {
    await holdUntil;
    if (timing === 'after') await send().catch(() => undefined);
    throw Object.assign(new Error('Internal server error (test)'), { name: 'InternalServerError', $fault: 'server', $metadata: { httpStatusCode: 500 } });
  });
  return { failed: intercepted, reached, remove };
}

/**
 * Holds the first matching SDK call until `until` settles, then lets it through (a write slow on
 * its way, not a failed one): `done` resolves once it has answered.
 */
async function holdOnce(client: 'dynamo' | 'sqs', matches: SdkCallMatcher, until: Promise<unknown>): Promise<{ reached: Promise<void>; done: Promise<void>; remove: () => void }> {
  let answered = () => {};
  const done = new Promise<void>((resolve) => (answered = resolve));
  const { reached, remove } = await interceptOnce(client, matches, async (send) => {
    await until;
    try {
      return await send();
    } finally {
      answered();
    }
  });
  return { reached, done, remove };
}

/**
 * A manual one-batch rollout of `<repository>:3` planned for one device on `<repository>:1`, whose
 * target has moved on to `<repository>:2` since (as an older rollout or an admin would move it):
 * its row says 1, a schedule records 2.
 */
async function plannedThenMovedOn(repository: string) {
  const { UpdateCommand } = await import('@aws-sdk/lib-dynamodb');
  const { dynamo } = await import('../../lib/aws-clients');
  const { keys } = await import('../../lib/store/keys');
  const { tableName } = await import('../../lib/store/table');
  await f.createPolicy({ image_pattern: `${repository}:*`, update_strategy: 'manual', staged_batches: 1 });
  const [device] = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 1, image: `${repository}:1` });
  const id: string = (await f.push(repository, '3')).body.rollouts[0].id;
  await f.waitForRollout(id, (d) => d.rollout.planned === true, 'planned');
  await dynamo().send(
    new UpdateCommand({
      TableName: tableName(),
      Key: keys.device(device!.uuid),
      UpdateExpression: 'SET target_apps[0].image = :image, target_version = target_version + :one',
      ExpressionAttributeValues: { ':image': `${repository}:2`, ':one': 1 },
    }),
  );
  await device!.poll();
  return { id, device: device! };
}

describe('an ending whose device sweep was cut short', () => {
  it('rolls every device back from the tick when rollback-all failed right after the rollout ended', async () => {
    await f.createPolicy({ image_pattern: 'sweep/all:*', update_strategy: 'auto', batch_delay_minutes: 0 });
    const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 3, image: 'sweep/all:1' });
    const stop = startPolling(devices, 100);
    try {
      const id = (await f.push('sweep/all', '2')).body.rollouts[0].id;
      await f.waitForStatus(id, 'completed');
      // The first device row the sweep moves fails: the rollout says rolled back, no device moved.
      const fault = await failOnce('dynamo', (command, input) => command === 'UpdateItemCommand' && /^DEVICE#\d{9}$/.test(String(input.Key?.sk)));
      try {
        const answer = await f.api('POST', `/api/v1/rollouts/${id}/rollback-all`, { body: { reason: 'bad release' } });
        expect(fault.failed()).toBe(true);
        expect(answer.status).toBe(500);
      } finally {
        fault.remove();
      }
      expect((await f.rollout(id)).rollout.status).toBe('rolled_back');
      // The admin's retry is refused (the rollout has ended): the sweep is the system's to finish.
      expect((await f.api('POST', `/api/v1/rollouts/${id}/rollback-all`, { body: {} })).status).toBe(409);
      const done = await f.waitForRollout(id, (d) => d.statistics.rolled_back === 3, 'every device rolled back', 30_000);
      expect(done.statistics).toMatchObject({ updated: 0, rolled_back: 3 });
      await waitFor(async () => (devices.every((d) => d.running[0]!.image === 'sweep/all:1') ? true : undefined), 10_000, 'the fleet back on 1');
      expect((await f.events(id)).filter((e) => e.type === 'image.device_rolled_back')).toHaveLength(3);
    } finally {
      await stop();
    }
  });

  it('skips the devices a cancel could not hand to the rollback queue', async () => {
    await f.createPolicy({ image_pattern: 'sweep/cancel:*', batch_percentages: [50, 100], batch_delay_minutes: 10 });
    const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 4, image: 'sweep/cancel:1' });
    const stop = startPolling(devices, 100);
    try {
      const id = (await f.push('sweep/cancel', '2')).body.rollouts[0].id;
      // The first batch done, the second waits its ten-minute delay with its devices pending.
      await f.waitForRollout(id, (d) => d.statistics.updated === 2, 'the first batch updated');
      const fault = await failOnce('sqs', (command, input) => command === 'SendMessageBatchCommand' && String(input.QueueUrl).includes('rollback'));
      try {
        expect((await f.api('POST', `/api/v1/rollouts/${id}/cancel`, { body: { reason: 'not now' } })).status).toBe(500);
        expect(fault.failed()).toBe(true);
      } finally {
        fault.remove();
      }
      expect((await f.rollout(id)).rollout.status).toBe('cancelled');
      const done = await f.waitForRollout(id, (d) => d.statistics.skipped === 2, 'the pending devices skipped', 30_000);
      expect(done.devices.map((d: any) => d.status).sort()).toEqual(['skipped', 'skipped', 'updated', 'updated']);
    } finally {
      await stop();
    }
  });
});

describe('a planning page cut short by the ending', () => {
  it('skips a row a planning page wrote just before a cancel won the race to the rollout', async () => {
    const { getRolloutDevice, putRolloutDevices } = await import('../../lib/store/rollout-devices');
    await f.createPolicy({ image_pattern: 'sweep/planning:*', update_strategy: 'manual' });
    const [device] = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 1, image: 'sweep/planning:1' });
    const id = (await f.push('sweep/planning', '2')).body.rollouts[0].id;
    const planned = (await f.waitForRollout(id, (d) => d.rollout.planned, 'planned')).rollout;
    // A page's rows are written, and its save of the rollout then loses to the cancel: planning
    // never counts the row in, but it is in the table, pending.
    await putRolloutDevices([
      {
        rollout_id: id,
        device_uuid: device!.uuid,
        device_name: 'orphan',
        app: 'extra',
        seq: planned.total_devices,
        shard: 0,
        batch: null,
        status: 'pending',
        previous_image: 'sweep/planning:1',
        new_image: 'sweep/planning:2',
        updated_at: new Date().toISOString(),
      },
    ]);
    expect((await f.api('POST', `/api/v1/rollouts/${id}/cancel`, { body: {} })).status).toBe(200);
    const done = await f.waitForRollout(id, (d) => d.rollout.sweep === undefined, 'the sweep closed', 20_000);
    expect(done.devices.map((r: any) => [r.app, r.status])).toEqual([['main', 'skipped'], ['extra', 'skipped']]);
    expect(done.statistics.total_devices).toBe(1);
    expect((await getRolloutDevice({ rollout_id: id, shard: 0, seq: planned.total_devices }))?.status).toBe('skipped');
  });
});

describe('a planning attempt cut short', () => {
  it('drops the rows it wrote when the attempt that saves planning leaves their devices out', async () => {
    const { newRollout } = await import('../../lib/rollouts/create-rollouts');
    const { planPages } = await import('../../lib/rollouts/plan');
    const { createRollout } = await import('../../lib/store/rollouts');
    const { getRolloutDevice, putRolloutDevices } = await import('../../lib/store/rollout-devices');
    const policy = await f.createPolicy({ image_pattern: 'crash/plan:*', update_strategy: 'manual' });
    const [device] = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 1, image: 'crash/plan:1' });
    const push = { registry: 'docker-registry', repository: 'crash/plan', tag: '2', pushed_at: new Date().toISOString(), delivery_id: 'crash-plan' };
    const { rollout } = await createRollout(newRollout(push, policy, new Date()));
    // An attempt wrote two rows and died before saving; the one that saves finds one device.
    const row = { rollout_id: rollout.id, device_name: 'x', batch: null, status: 'pending' as const, previous_image: 'crash/plan:1', new_image: rollout.image, updated_at: new Date().toISOString(), shard: 0 };
    await putRolloutDevices([
      { ...row, device_uuid: device!.uuid, app: 'main', seq: 0 },
      { ...row, device_uuid: 'gone', app: 'main', seq: 1 },
    ]);
    const planned = await planPages(rollout.id, 0, new Date());
    expect(planned?.planning).toMatchObject({ done: true, assigned: 1 });
    expect((await getRolloutDevice({ rollout_id: rollout.id, shard: 0, seq: 0 }))?.device_uuid).toBe(device!.uuid);
    expect(await getRolloutDevice({ rollout_id: rollout.id, shard: 0, seq: 1 })).toBeUndefined();
  });
});

describe('a scheduling whose target write answered an error', () => {
  it('has recorded the device as scheduled although the device updated before the retry', async () => {
    await f.createPolicy({ image_pattern: 'lost/answer:*', update_strategy: 'auto', batch_delay_minutes: 0 });
    const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 1, image: 'lost/answer:1' });
    // The device's new target is written, but set-targets sees an error: its message comes back
    // only after the visibility timeout, long after the device has updated.
    const fault = await failOnce('dynamo', (command, input) => command === 'UpdateItemCommand' && input.Key?.sk === 'DEVICE' && String(input.UpdateExpression).includes('target_set_by'), 'after');
    const stop = startPolling(devices, 100);
    try {
      const id = (await f.push('lost/answer', '2')).body.rollouts[0].id;
      await f.waitForStatus(id, 'completed');
      expect(fault.failed()).toBe(true);
      const types = (await f.events(id)).map((e) => e.type);
      expect(types.filter((t) => t === 'image.device_scheduled')).toHaveLength(1);
      expect(types.filter((t) => t === 'image.device_updated')).toHaveLength(1);
    } finally {
      fault.remove();
      await stop();
    }
  });
});

describe("a device's report cut short, and then a newer push", () => {
  it("records the report's event when the newer rollout's target comes before the device reports again", async () => {
    await f.createPolicy({ image_pattern: 'cut/report:*', update_strategy: 'auto', batch_delay_minutes: 0 });
    const [device] = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 1, image: 'cut/report:1' });
    const older = (await f.push('cut/report', '2')).body.rollouts[0].id;
    await f.waitForRollout(older, (d) => d.devices[0]?.status === 'scheduled', 'the device scheduled');
    // The report moves the row, and the write of its event fails: the device is told 500, and
    // then stays silent while the newer push takes it over.
    const fault = await failOnce('dynamo', (command, input) => command === 'PutItemCommand' && input.Item?.type === 'image.device_updated');
    try {
      await device!.poll().catch(() => undefined);
      expect(fault.failed()).toBe(true);
    } finally {
      fault.remove();
    }
    await f.waitForRollout(older, (d) => d.devices[0]?.status === 'updated', 'the row updated');
    expect((await f.events(older)).map((e) => e.type)).not.toContain('image.device_updated');
    const newer = (await f.push('cut/report', '3')).body.rollouts[0].id;
    await f.waitForRollout(newer, (d) => d.devices[0]?.status === 'scheduled', 'the device scheduled by the newer rollout');
    const updated = (await f.events(older)).filter((e) => e.type === 'image.device_updated');
    expect(updated).toHaveLength(1);
    expect(updated[0]).toMatchObject({ device_uuid: device!.uuid, details: { app: 'main', image: 'cut/report:2' } });
  });
});

describe('a target write slower than a rollback', () => {
  it('never lands once the rollback has swept its row, though its scheduling dies right after it', async () => {
    const { getStoredDevice } = await import('../../lib/store/devices');
    await f.createPolicy({ image_pattern: 'slow/write:*', update_strategy: 'auto', batch_delay_minutes: 0 });
    const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 1, image: 'slow/write:1' });
    // The device's new target is on its way while the whole rollout is rolled back and its sweep
    // closes; it then reaches the store, and the scheduling that sent it dies before doing more.
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const fault = await failOnce('dynamo', (command, input) => command === 'UpdateItemCommand' && String(input.UpdateExpression).includes('rollouts.#app = :pointer'), 'after', held);
    const stop = startPolling(devices, 100);
    try {
      const id = (await f.push('slow/write', '2')).body.rollouts[0].id;
      await fault.reached;
      expect((await f.api('POST', `/api/v1/rollouts/${id}/rollback-all`, { body: { reason: 'bad release' } })).status).toBe(200);
      const swept = await f.waitForRollout(id, (d) => d.rollout.sweep === undefined, 'the sweep closed', 30_000);
      expect(swept.devices.map((d: any) => d.status)).toEqual(['rolled_back']);
      release();
      await waitFor(async () => (fault.failed() ? true : undefined), 5_000, 'the held write answered');
      // However long it is watched, the device keeps its old target.
      for (let look = 0; look < 10; look++) {
        const device = await getStoredDevice(devices[0]!.uuid, true);
        expect(device?.target_apps[0]?.image).toBe('slow/write:1');
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      expect(devices[0]!.running[0]!.image).toBe('slow/write:1');
    } finally {
      release();
      fault.remove();
      await stop();
    }
  });
});

describe('a scheduling cut short between the row and the target', () => {
  it('rolls the device back to the image it had when scheduled, not the one planning saw', async () => {
    const { id, device } = await plannedThenMovedOn('moved/app');
    // The write that tells the row about that image fails once, as a crash there would cut it short.
    const fault = await failOnce('dynamo', (command, input) => command === 'UpdateItemCommand' && String(input.UpdateExpression).startsWith('SET previous_image'));
    const stop = startPolling([device], 100);
    try {
      expect((await f.api('POST', `/api/v1/rollouts/${id}/start`)).status).toBe(200);
      await f.waitForRollout(id, (d) => d.devices[0]?.status === 'updated' || d.devices[0]?.status === 'healthy', 'the device updated', 60_000);
      expect(fault.failed()).toBe(true);
      expect(device.running[0]!.image).toBe('moved/app:3');
      const rollback = await f.api('POST', `/api/v1/rollouts/${id}/devices/${device.uuid}/rollback`, { body: { reason: 'test' } });
      expect(rollback.status).toBe(200);
      expect(rollback.body.apps).toEqual([{ app: 'main', from_image: 'moved/app:3', to_image: 'moved/app:2', outcome: 'rolled_back' }]);
      await waitFor(async () => (device.running[0]!.image === 'moved/app:2' ? true : undefined), 10_000, 'the device back on 2');
    } finally {
      fault.remove();
      await stop();
    }
  });
});

describe('a rollback racing the scheduling of its device', () => {
  it('returns the device to the image its schedule recorded after the sweep read the row, not the one planning saw', async () => {
    const { getStoredDevice } = await import('../../lib/store/devices');
    const { id, device } = await plannedThenMovedOn('raced/app');
    // The sweep reads the row scheduled but before the schedule records the image to return to
    // there, and moves it only once the new target has landed: the row it holds is out of date.
    let sweepMoving = () => {};
    const sweepMoves = new Promise<void>((resolve) => (sweepMoving = resolve));
    const recording = await holdOnce('dynamo', (command, input) => command === 'UpdateItemCommand' && String(input.UpdateExpression).startsWith('SET previous_image'), sweepMoves);
    let targetSet = () => {};
    const targetLanded = new Promise<void>((resolve) => (targetSet = resolve));
    const target = await holdOnce('dynamo', (command, input) => command === 'UpdateItemCommand' && String(input.UpdateExpression).includes('rollouts.#app = :pointer'), Promise.resolve());
    void target.done.then(targetSet);
    const sweep = await holdOnce('dynamo', (command, input) => command === 'UpdateItemCommand' && input.ExpressionAttributeValues?.[':to'] === 'rolled_back', targetLanded);
    void sweep.reached.then(sweepMoving);
    try {
      expect((await f.api('POST', `/api/v1/rollouts/${id}/start`)).status).toBe(200);
      await recording.reached;
      const answer = f.api('POST', `/api/v1/rollouts/${id}/rollback-all`, { body: { reason: 'bad release' } });
      await sweep.done;
      expect((await answer).status).toBe(200);
      const rolledBack = await f.waitForRollout(id, (d) => d.devices[0]?.status === 'rolled_back', 'the device rolled back', 30_000);
      expect(rolledBack.devices[0]).toMatchObject({ previous_image: 'raced/app:2' });
      expect((await getStoredDevice(device.uuid, true))?.target_apps[0]?.image).toBe('raced/app:2');
      const [event] = (await f.events(id)).filter((e) => e.type === 'image.device_rolled_back');
      expect(event?.details).toMatchObject({ from_image: 'raced/app:3', to_image: 'raced/app:2' });
    } finally {
      for (const hold of [recording, target, sweep]) hold.remove();
      sweepMoving();
      targetSet();
    }
  });
});

describe('a completed rollout a device joined, completed again', () => {
  it('recounts its counters again though the second completion could not send its sweep', async () => {
    const { UpdateCommand } = await import('@aws-sdk/lib-dynamodb');
    const { dynamo } = await import('../../lib/aws-clients');
    const { keys, shardOf } = await import('../../lib/store/keys');
    const { tableName } = await import('../../lib/store/table');
    await f.createPolicy({ image_pattern: 'again/app:*', update_strategy: 'auto', batch_delay_minutes: 0 });
    const stops = [startPolling(await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 2, image: 'again/app:1', namePrefix: 'again' }), 100)];
    try {
      const id = (await f.push('again/app', '2')).body.rollouts[0].id;
      await f.waitForStatus(id, 'completed');
      await f.waitForRollout(id, (d) => d.rollout.sweep === undefined, 'the first completion swept');
      const second = await failOnce('sqs', (_command, input) => JSON.stringify(input).includes('revert_devices'));
      try {
        const [late] = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 1, image: 'again/app:1', namePrefix: 'again-late' });
        stops.push(startPolling([late!], 100));
        await second.reached;
        // Completed again, its sweep unsent; and a count of the joiner's move lost, as a crash loses one.
        const { rollout } = await f.rollout(id);
        await dynamo().send(
          new UpdateCommand({
            TableName: tableName(),
            Key: keys.batchCounters(id, shardOf(late!.uuid, rollout.shard_count), rollout.batches.length),
            UpdateExpression: 'ADD updated :less',
            ExpressionAttributeValues: { ':less': -1 },
          }),
        );
        const swept = await f.waitForRollout(id, (d) => d.rollout.sweep === undefined && d.statistics.updated === 3, 'the second completion swept and recounted', 30_000);
        expect(swept.statistics).toMatchObject({ total_devices: 3, updated: 3, pending: 0 });
      } finally {
        second.remove();
      }
    } finally {
      for (const stop of stops) await stop();
    }
  });
});

describe('an ending cut short between a device move and what follows it', () => {
  it('records the rolled-back event of a device whose move was made before a crash', async () => {
    const { shardOf } = await import('../../lib/store/keys');
    const { findRolloutDevice, transitionRolloutDevice } = await import('../../lib/store/rollout-devices');
    await f.createPolicy({ image_pattern: 'half/back:*', update_strategy: 'auto', batch_delay_minutes: 0 });
    const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 2, image: 'half/back:1' });
    const stop = startPolling(devices, 100);
    try {
      const id = (await f.push('half/back', '2')).body.rollouts[0].id;
      const done = await f.waitForStatus(id, 'completed');
      // An earlier rollback's first half: the row moved, then the function died before its event.
      const [row] = await findRolloutDevice(id, shardOf(devices[0]!.uuid, done.rollout.shard_count), devices[0]!.uuid);
      expect(await transitionRolloutDevice(row!, ['updated'], 'rolled_back', { batch: 1, at: new Date().toISOString() })).toBe('updated');
      expect((await f.api('POST', `/api/v1/rollouts/${id}/rollback-all`, { body: {} })).status).toBe(200);
      const events = await f.events(id);
      expect(events.filter((e) => e.type === 'image.device_rolled_back').map((e) => e.device_uuid).sort()).toEqual(devices.map((d) => d.uuid).sort());
      await waitFor(async () => (devices.every((d) => d.running[0]!.image === 'half/back:1') ? true : undefined), 10_000, 'the fleet back on 1');
    } finally {
      await stop();
    }
  });

  it("recounts a cancelled rollout's counters when a crash lost a count", async () => {
    const { shardOf } = await import('../../lib/store/keys');
    const { findRolloutDevice, transitionRolloutDevice } = await import('../../lib/store/rollout-devices');
    await f.createPolicy({ image_pattern: 'half/count:*', batch_percentages: [50, 100], batch_delay_minutes: 10 });
    const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 4, image: 'half/count:1' });
    const stop = startPolling(devices, 100);
    try {
      const id = (await f.push('half/count', '2')).body.rollouts[0].id;
      const first = await f.waitForRollout(id, (d) => d.statistics.updated === 2, 'the first batch updated');
      // A sweep's move of a pending device whose count never landed (the function died in between).
      const waiting = first.devices.find((d: any) => d.status === 'pending');
      const [row] = await findRolloutDevice(id, shardOf(waiting.device_uuid, first.rollout.shard_count), waiting.device_uuid);
      expect(await transitionRolloutDevice(row!, ['pending'], 'skipped', { batch: 2, at: new Date().toISOString() })).toBe('pending');
      expect((await f.api('POST', `/api/v1/rollouts/${id}/cancel`, { body: {} })).status).toBe(200);
      const done = await f.waitForRollout(id, (d) => d.statistics.skipped === 2, 'both pending devices counted as skipped', 30_000);
      expect(done.statistics).toMatchObject({ updated: 2, skipped: 2, pending: 0 });
    } finally {
      await stop();
    }
  });
});

describe('a request to join lost after the device was written', () => {
  it("is sent again by the device's poll once the change that recorded it had its time, and the device joins", async () => {
    const { SimulatedDevice } = await import('../../agent/simulator/fleet');
    const { getStoredDevice } = await import('../../lib/store/devices');
    await f.createPolicy({ image_pattern: 'lost/join:*', update_strategy: 'auto', batch_delay_minutes: 0, update_timeout_minutes: 30 });
    await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 1, image: 'lost/join:1' });
    const id = (await f.push('lost/join', '2')).body.rollouts[0].id;
    // Nobody polls: the rollout stays under way, its one device scheduled.
    await f.waitForRollout(id, (d) => d.devices[0]?.status === 'scheduled', 'the first device scheduled');

    // The registration writes the device; its request to join the rollout is never sent.
    const fault = await failOnce('sqs', (command, input) => command === 'SendMessageCommand' && JSON.parse(String(input.MessageBody)).type === 'join');
    let registered;
    try {
      registered = await f.api('POST', '/api/v1/devices', { body: { name: 'lost-join', ip_address: '127.0.9.40', apps: [{ name: 'main', image: 'lost/join:1' }] } });
    } finally {
      fault.remove();
    }
    expect(registered.status, JSON.stringify(registered.body)).toBe(201);
    expect(fault.failed()).toBe(true);
    const uuid = registered.body.device.uuid as string;
    expect((await getStoredDevice(uuid, true))?.joins_pending).toEqual({});
    expect(registered.body.device).not.toHaveProperty('joins_pending');
    const joiner = new SimulatedDevice({ apiUrl: host.url, uuid, token: registered.body.device_token, apps: [{ name: 'main', image: 'lost/join:1' }], ipAddress: '127.0.9.40' });

    // Within its minute the request is the registration's to send: a poll leaves it alone.
    await joiner.poll();
    expect((await f.rollout(id)).rollout.total_devices).toBe(1);

    host.clock.advance(61_000);
    await joiner.poll();
    const joined = await f.waitForRollout(id, (d) => d.devices.some((row: any) => row.device_uuid === uuid && row.status === 'scheduled'), 'the device joined and scheduled');
    expect(joined.rollout.total_devices).toBe(2);
    expect((await f.events(id)).filter((e) => e.type === 'image.device_joined').map((e) => e.device_uuid)).toEqual([uuid]);
    const stored = await getStoredDevice(uuid, true);
    expect(stored?.joins_pending).toBeUndefined();
    expect(stored?.joins_pending_at).toBeUndefined();
    // Its next poll brings the new image.
    await joiner.poll();
    expect(joiner.running[0]!.image).toBe('lost/join:2');
  });
});

describe('retry rounds that run together or are cut short', () => {
  const retries = (events: any[], uuid: string) =>
    events.filter((e) => e.type === 'image.device_retried' && e.device_uuid === uuid).map((e) => [e.details.attempt, e.details.attempts_allowed, e.details.reason]);
  const retryRounds = async (id: string) => (await f.rollout(id)).rollout.batches[0].retry_rounds ?? 0;

  it('records both retries of a device that two rounds of one evaluation retried in the same millisecond', async () => {
    await f.createPolicy({ image_pattern: 'retry/together:*', update_strategy: 'auto', retry_failed: 2, max_failure_rate: 1 });
    const [device] = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 1, image: 'retry/together:1', behaviour: () => ({ failUpdate: true }) });
    // The first round's event is slow to write: the device fails its second attempt meanwhile, so
    // the evaluation's next step, taken at the same time, is the second round.
    let release = () => {};
    const slow = await holdOnce(
      'dynamo',
      (command, input) => command === 'PutItemCommand' && input.Item?.type === 'image.device_retried',
      new Promise<void>((resolve) => (release = resolve)),
    );
    try {
      const id = (await f.push('retry/together', '2')).body.rollouts[0].id;
      await f.waitForRollout(id, (d) => d.devices[0]?.status === 'scheduled', 'the device scheduled');
      await device!.poll();
      await slow.reached;
      await device!.poll();
      expect((await f.rollout(id)).devices[0]).toMatchObject({ status: 'failed', attempts: 2 });
      release();
      await slow.done;
      await waitFor(async () => ((await retryRounds(id)) === 2 ? true : undefined), 15_000, 'the second round recorded');
      const why = expect.stringContaining('failed to start');
      expect(retries(await f.events(id), device!.uuid)).toEqual([
        [2, 3, why],
        [3, 3, why],
      ]);
    } finally {
      release();
      slow.remove();
    }
  });

  it('records the retry of a device moved before the crash, when the round is taken again', async () => {
    await f.createPolicy({ image_pattern: 'retry/crash:*', update_strategy: 'auto', retry_failed: 1, max_failure_rate: 1 });
    const [device] = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 1, image: 'retry/crash:1', behaviour: () => ({ failUpdate: true }) });
    // The round moved the row, then died writing its event; its message comes back.
    const fault = await failOnce('dynamo', (command, input) => command === 'PutItemCommand' && input.Item?.type === 'image.device_retried');
    try {
      const id = (await f.push('retry/crash', '2')).body.rollouts[0].id;
      await f.waitForRollout(id, (d) => d.devices[0]?.status === 'scheduled', 'the device scheduled');
      await device!.poll();
      await waitFor(async () => ((await f.rollout(id)).devices[0]?.attempts === 2 ? true : undefined), 15_000, 'the row moved to its second attempt');
      await fault.reached;
      // The rows no longer ask for the round (none failed from attempt 1) until the device fails
      // its second attempt; then the round is taken again, and recorded.
      await device!.poll();
      await waitFor(async () => ((await retryRounds(id)) === 1 ? true : undefined), 15_000, 'the round taken again and recorded');
      expect(fault.failed()).toBe(true);
      const rows = (await f.rollout(id)).devices;
      expect(rows[0]).toMatchObject({ attempts: 2, last_error: expect.stringContaining('failed to start') });
      const recorded = (await f.events(id)).filter((e) => e.type === 'image.device_retried');
      expect(recorded).toHaveLength(1);
      expect(recorded[0]).toMatchObject({ timestamp: rows[0].scheduled_at, details: { attempt: 2, attempts_allowed: 2, reason: rows[0].last_error } });
    } finally {
      fault.remove();
    }
  });
});
