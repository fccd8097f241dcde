/**
 * SQS delivers at least once. Every command a handler takes, delivered again (in the same batch or
 * later), must change nothing: no second target-state change, no recount, no repeated event.
 * The handlers run here exactly as the host runs them, against the real emulators; only the
 * message delivery is done by hand so that the same message can be delivered twice.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { registerFleet, type SimulatedDevice } from '../../agent/simulator/fleet';
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

/** What the Lambda runtime passes a handler besides its event. */
const context = { functionName: 'replayed', awsRequestId: 'replayed', invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:replayed', memoryLimitInMB: '128' } as Context;

function sqsEvent(bodies: unknown[], groupId?: string): SQSEvent {
  return {
    Records: bodies.map((body) => ({
      messageId: randomUUID(),
      receiptHandle: randomUUID(),
      body: JSON.stringify(body),
      attributes: {
        ApproximateReceiveCount: '2',
        SentTimestamp: String(Date.now()),
        SenderId: 'test',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
        ...(groupId ? { MessageGroupId: groupId, MessageDeduplicationId: randomUUID() } : {}),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:redelivered',
      awsRegion: 'us-east-1',
    })),
  };
}

/** Everything a repeated command could wrongly change. */
async function snapshot(id: string, devices: SimulatedDevice[]) {
  const detail = await f.rollout(id);
  const targets = await Promise.all(
    devices.map(async (d) => {
      const { body } = await f.api('GET', `/api/v1/devices/${d.uuid}`);
      return [body.device.target_version, body.device.target_apps[0].image];
    }),
  );
  const { version, updated_at, ...rollout } = detail.rollout;
  return { rollout, statistics: detail.statistics, devices: detail.devices, events: await f.events(id), targets };
}

describe('a command delivered twice changes nothing the second time', () => {
  it('plan, set-targets and evaluate commands, replayed mid-batch and after completion', async () => {
    const batchAdvance = (await import('../../functions/batch-advance')).handler;
    const setTargets = (await import('../../functions/set-targets')).handler;

    await f.createPolicy({ image_pattern: 'replay/app:*', batch_percentages: [50, 100], batch_delay_minutes: 0, update_timeout_minutes: 30 });
    // Devices that never poll: the first batch stays scheduled, so the state is still while we replay.
    const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 6, image: 'replay/app:1' });
    const { body } = await f.push('replay/app', '2');
    const id = body.rollouts[0].id;
    await f.waitForRollout(id, (d) => d.rollout.current_batch === 1 && d.statistics.scheduled === 3, 'first batch scheduled');
    const events = await f.events(id);
    expect(events.filter((e) => e.type === 'image.device_scheduled')).toHaveLength(3);

    const before = await snapshot(id, devices);
    const plan = { type: 'plan', rollout_id: id, seq: 0 };
    const evaluate = { type: 'evaluate', rollout_id: id, reason: 'replay' };
    const setTargetsCommand = { type: 'set_targets', rollout_id: id, batch: 1, shard: 0 };
    const replays = [
      await batchAdvance(sqsEvent([plan, evaluate, plan, evaluate], id), context),
      await setTargets(sqsEvent([setTargetsCommand, setTargetsCommand]), context),
      await setTargets(sqsEvent([setTargetsCommand]), context),
    ];
    for (const result of replays) expect(result.batchItemFailures).toEqual([]);
    expect(await snapshot(id, devices)).toEqual(before);

    // Let the devices update; the rollout completes. Then replay everything once more.
    await Promise.all(devices.map((d) => d.poll()));
    await f.waitForRollout(id, (d) => d.rollout.current_batch === 2 && d.statistics.scheduled === 3, 'second batch scheduled');
    await Promise.all(devices.map((d) => d.poll()));
    await f.waitForStatus(id, 'completed');
    const after = await snapshot(id, devices);
    await batchAdvance(sqsEvent([plan, evaluate], id), context);
    await setTargets(sqsEvent([setTargetsCommand, { ...setTargetsCommand, batch: 2 }]), context);
    // A device repeating its last report is also a redelivery of sorts.
    await Promise.all(devices.map((d) => d.report(d.running.map((a) => ({ ...a, status: 'running' })))));
    expect(await snapshot(id, devices)).toEqual(after);
    expect(after.statistics).toMatchObject({ updated: 6, scheduled: 0, failed: 0 });
  });

  it('health-check and rollback commands, replayed after they ran', async () => {
    const healthCheck = (await import('../../functions/health-check')).handler;
    const rollback = (await import('../../functions/rollback')).handler;

    await f.createPolicy({
      image_pattern: 'replay/checked:*',
      update_strategy: 'auto',
      health_check_enabled: true,
      health_check_config: { type: 'container', containerName: 'main' },
      auto_rollback_enabled: true,
      max_failure_rate: 1,
    });
    const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 4, image: 'replay/checked:1' });
    const { body } = await f.push('replay/checked', '2');
    const id = body.rollouts[0].id;
    await f.waitForRollout(id, (d) => d.statistics.scheduled === 4, 'all scheduled');
    await Promise.all(devices.map((d) => d.poll()));
    // One device's container stops right after it reported the new image: its check fails.
    await devices[0]!.report([{ name: 'main', image: 'replay/checked:2', status: 'exited' }]);
    const done = await f.waitForStatus(id, 'completed');
    expect(done.statistics).toMatchObject({ healthy: 3, rolled_back: 1 });

    const before = await snapshot(id, devices);
    const check = { type: 'check_health', rollout_id: id, batch: 1, shard: 0 };
    const revert = { type: 'revert_devices', rollout_id: id, shard: 0, batch: 1, from: ['failed', 'unhealthy'], to: 'rolled_back', reason: 'automatic rollback' };
    for (const result of [
      await healthCheck(sqsEvent([check, check]), context),
      await rollback(sqsEvent([revert, revert]), context),
      await rollback(sqsEvent([revert]), context),
    ]) {
      expect(result.batchItemFailures).toEqual([]);
    }
    expect(await snapshot(id, devices)).toEqual(before);
  });

  it('a health check repeated while the first is still probing records each device once', async () => {
    const healthCheck = (await import('../../functions/health-check')).handler;
    // The devices answer only when the test lets them, so the host's own check is still under way.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const server = createServer((_request, response) => void gate.then(() => response.writeHead(200).end('ok')));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      await f.createPolicy({
        image_pattern: 'replay/probing:*',
        update_strategy: 'auto',
        health_check_enabled: true,
        health_check_config: { type: 'http', endpoint: `http://127.0.0.1:${port}/health`, timeout: 10, retries: 0 },
      });
      const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 2, image: 'replay/probing:1' });
      const id = (await f.push('replay/probing', '2')).body.rollouts[0].id;
      await f.waitForRollout(id, (d) => d.statistics.scheduled === 2, 'all scheduled');
      await Promise.all(devices.map((d) => d.poll()));
      await f.waitForRollout(id, (d) => d.statistics.updated === 2, 'both updated');
      await new Promise((r) => setTimeout(r, 300)); // the host's check is waiting on the gate
      const repeated = healthCheck(sqsEvent([{ type: 'check_health', rollout_id: id, batch: 1, shard: 0 }]), context);
      await new Promise((r) => setTimeout(r, 300));
      release();
      expect((await repeated).batchItemFailures).toEqual([]);
      await f.waitForStatus(id, 'completed');
      const passed = (await f.events(id)).filter((e) => e.type === 'image.health_check_passed');
      expect(passed.map((e) => e.device_uuid).sort()).toEqual(devices.map((d) => d.uuid).sort());
    } finally {
      release();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('fails only the malformed message of a batch, leaving the others processed', async () => {
    const batchAdvance = (await import('../../functions/batch-advance')).handler;
    const event = sqsEvent([{ type: 'evaluate', rollout_id: 'ro-unknown', reason: 'x' }, { type: 'bogus' }, { nonsense: true }]);
    // The host's log goes to stdout (LOG_FORMAT); Powertools' own console would write errors to stderr.
    const written: string[] = [];
    const spies = [process.stdout, process.stderr].map((stream) =>
      vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => written.push(String(chunk)) > 0),
    );
    const result = await batchAdvance(event, context);
    for (const spy of spies) spy.mockRestore();
    expect(written.filter((line) => line.includes('"level":"ERROR"'))).toEqual([expect.stringContaining('malformed message'), expect.stringContaining('malformed message')]);
    expect(result.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([event.Records[1]!.messageId, event.Records[2]!.messageId]);
  });
});
