/**
 * The embedded host's EventBridge Scheduler twin, driven by the real SDK v3 client: the request
 * shapes it must understand are the ones the client sends. A wake-up beyond the delay threshold
 * (lowered here from 15 minutes to 1 s, through the same code path) becomes a one-time schedule
 * that the twin fires into the wake queue at its `at()` time, then deletes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  GetScheduleCommand,
  ResourceNotFoundException,
  SchedulerClient,
} from '@aws-sdk/client-scheduler';
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { fixtureManifest } from '../fixtures/host/manifest';

const clientConfig = { region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };

let host: Host;
let scheduler: SchedulerClient;
let sqs: SQSClient;
let group: string;
let wakeQueueArn: string;

beforeAll(async () => {
  vi.resetModules();
  // No consumer of the wake queue in the fixture wiring: the test reads what the schedules send.
  host = await startHost({ port: 0, dataDir: ':memory:', quiet: true, manifest: fixtureManifest });
  scheduler = new SchedulerClient({ ...clientConfig, endpoint: host.endpoints.scheduler });
  sqs = new SQSClient({ ...clientConfig, endpoint: host.endpoints.sqs });
  group = process.env.SCHEDULE_GROUP_NAME!;
  wakeQueueArn = process.env.SCHEDULE_TARGET_QUEUE_ARN!;
});

afterAll(async () => {
  scheduler?.destroy();
  sqs?.destroy();
  await host?.stop();
});

async function receiveOne(timeoutMs: number): Promise<{ message: Message; at: number } | undefined> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: host.queueUrls.wake, MaxNumberOfMessages: 1, WaitTimeSeconds: 0 }));
    if (Messages[0]) {
      const at = Date.now();
      await sqs.send(new DeleteMessageCommand({ QueueUrl: host.queueUrls.wake, ReceiptHandle: Messages[0].ReceiptHandle }));
      return { message: Messages[0], at };
    }
    await sleep(50);
  }
  return undefined;
}

const inSeconds = (s: number) => new Date(Math.ceil(Date.now() / 1000) * 1000 + s * 1000).toISOString().slice(0, 19);

describe('the embedded EventBridge Scheduler', () => {
  it('creates, reads and deletes one-time schedules as the SDK client asks, and refuses a second of the same name', async () => {
    const create = () =>
      scheduler.send(
        new CreateScheduleCommand({
          Name: 'sdk-shape',
          GroupName: group,
          ScheduleExpression: `at(${inSeconds(600)})`,
          FlexibleTimeWindow: { Mode: 'OFF' },
          ActionAfterCompletion: 'DELETE',
          Target: { Arn: wakeQueueArn, RoleArn: 'arn:aws:iam::123456789012:role/test', Input: '{"hello":"world"}' },
        }),
      );
    const created = await create();
    expect(created.ScheduleArn).toMatch(new RegExp(`:schedule/${group}/sdk-shape$`));
    await expect(create()).rejects.toBeInstanceOf(ConflictException);

    const read = await scheduler.send(new GetScheduleCommand({ Name: 'sdk-shape', GroupName: group }));
    expect(read).toMatchObject({ Name: 'sdk-shape', GroupName: group, ActionAfterCompletion: 'DELETE', Target: { Arn: wakeQueueArn, Input: '{"hello":"world"}' } });
    expect(read.CreationDate).toBeInstanceOf(Date);

    await scheduler.send(new DeleteScheduleCommand({ Name: 'sdk-shape', GroupName: group }));
    await expect(scheduler.send(new GetScheduleCommand({ Name: 'sdk-shape', GroupName: group }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(
      scheduler.send(
        new CreateScheduleCommand({
          Name: 'nowhere',
          GroupName: 'no-such-group',
          ScheduleExpression: `at(${inSeconds(600)})`,
          FlexibleTimeWindow: { Mode: 'OFF' },
          Target: { Arn: wakeQueueArn, RoleArn: 'arn:aws:iam::123456789012:role/test' },
        }),
      ),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
  });

  it('fires a wake-up beyond the delay threshold into the wake queue at its due time, once, then deletes it', async () => {
    const { sendWakeUp, wakeUpScheduleName } = await import('../../lib/queues/messages');
    const due = new Date(Date.now() + 3_000).toISOString();
    // Threshold lowered to 1 s: a 3-second wake-up takes the path a 20-minute one takes in production.
    await sendWakeUp('ro-scheduled', due, new Date(), 1);
    await sendWakeUp('ro-scheduled', due, new Date(), 1); // a retry finds the schedule there
    const name = wakeUpScheduleName('ro-scheduled', due);
    const pending = await scheduler.send(new GetScheduleCommand({ Name: name, GroupName: group }));
    expect(pending.ScheduleExpression).toBe(`at(${new Date(Math.ceil(Date.parse(due) / 1000) * 1000).toISOString().slice(0, 19)})`);

    const received = await receiveOne(10_000);
    expect(received, 'a wake-up arrived').toBeDefined();
    expect(JSON.parse(received!.message.Body!)).toEqual({ type: 'wake', rollout_id: 'ro-scheduled', due_at: due });
    const lateness = received!.at - Date.parse(due);
    expect(lateness, `arrived ${lateness} ms after its due time`).toBeGreaterThanOrEqual(0);
    expect(lateness, `arrived ${lateness} ms after its due time`).toBeLessThan(2_000);

    await expect(scheduler.send(new GetScheduleCommand({ Name: name, GroupName: group }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    expect(await receiveOne(1_500), 'no second wake-up').toBeUndefined();
  });
});
