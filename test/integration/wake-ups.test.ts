/**
 * Which evaluations send a wake-up: batch-advance's own code (lib/rollouts/progress.ts) against
 * the embedded emulators, with the fixture wiring, whose wake queue nobody consumes, so the test
 * sees every wake-up sent.
 */
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { planBatches } from '../../lib/domain/batch-plan';
import type { Rollout } from '../../lib/domain/types';
import { fixtureManifest } from '../fixtures/host/manifest';

let host: Host;
let sqs: SQSClient;
let lib: {
  evaluateRollout: typeof import('../../lib/rollouts/progress').evaluateRollout;
  createRollout: typeof import('../../lib/store/rollouts').createRollout;
  getRollout: typeof import('../../lib/store/rollouts').getRollout;
};

beforeAll(async () => {
  vi.resetModules();
  host = await startHost({ port: 0, dataDir: ':memory:', quiet: true, manifest: fixtureManifest });
  sqs = new SQSClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, endpoint: host.endpoints.sqs });
  const progress = await import('../../lib/rollouts/progress');
  const store = await import('../../lib/store/rollouts');
  lib = { evaluateRollout: progress.evaluateRollout, createRollout: store.createRollout, getRollout: store.getRollout };
});

afterAll(async () => {
  sqs?.destroy();
  await host?.stop();
});

/** Wake-ups that arrive within `ms`, deleted as they are read. */
async function wakeUps(ms: number): Promise<{ body: any; at: number }[]> {
  const seen: { body: any; at: number }[] = [];
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: host.queueUrls.wake, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    for (const message of Messages) {
      seen.push({ body: JSON.parse(message.Body!), at: Date.now() });
      await sqs.send(new DeleteMessageCommand({ QueueUrl: host.queueUrls.wake, ReceiptHandle: message.ReceiptHandle }));
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return seen;
}

let n = 0;
/** An in-progress rollout whose first batch completed and whose second is due in `inMs`. */
async function waitingRollout(inMs: number, wakeRequested: boolean): Promise<Rollout> {
  const now = new Date();
  const due = new Date(now.getTime() + inMs).toISOString();
  const batches = planBatches(4, [50, 100]).map((b, i) => (i === 0 ? { ...b, status: 'completed' as const, started_at: now.toISOString(), completed_at: now.toISOString() } : b));
  const rollout: Rollout = {
    id: `ro-wake-${++n}-${Date.now()}`,
    policy_id: 'pol-wake',
    registry: 'docker-registry',
    repository: 'wake/app',
    tag: '2',
    image: 'wake/app:2',
    pushed_at: now.toISOString(),
    delivery_id: `d-${n}`,
    status: 'in_progress',
    policy: {
      image_pattern: 'wake/app:*',
      update_strategy: 'staged',
      batch_percentages: [50, 100],
      batch_delay_minutes: inMs / 60_000,
      update_timeout_minutes: 30,
      health_check_enabled: false,
      health_check_config: null,
      auto_rollback_enabled: false,
      max_failure_rate: 0.2,
    },
    batches,
    current_batch: 1,
    next_batch_due_at: due,
    ...(wakeRequested ? { wake_requested_for: due } : {}),
    planning: { done: true, assigned: 4 },
    total_devices: 4,
    shard_count: 1,
    version: 1,
    created_at: now.toISOString(),
    updated_at: now.toISOString(),
  };
  await lib.createRollout(rollout);
  return rollout;
}

beforeEach(async () => {
  await wakeUps(200); // nothing left over from the previous test
});

describe('wake-ups sent by evaluations', () => {
  it('one per due time: evaluations that find the wake-up already sent send nothing more', async () => {
    // A due time set without its wake-up (as resume sets a new deadline): the first evaluation sends it.
    const rollout = await waitingRollout(2_000, false);
    for (let i = 0; i < 5; i++) await lib.evaluateRollout(rollout.id, new Date());
    expect((await lib.getRollout(rollout.id))!.wake_requested_for).toBe(rollout.next_batch_due_at);
    const sent = await wakeUps(4_500);
    expect(sent.map((w) => w.body)).toEqual([{ type: 'wake', rollout_id: rollout.id, due_at: rollout.next_batch_due_at }]);
  });

  it('another when a wake-up comes early, arriving at the due time', async () => {
    const rollout = await waitingRollout(3_000, true);
    // Woken for the due time, seconds before it: the evaluation finds it still ahead.
    await lib.evaluateRollout(rollout.id, new Date(), rollout.next_batch_due_at);
    const sent = await wakeUps(6_000);
    expect(sent.map((w) => w.body)).toEqual([{ type: 'wake', rollout_id: rollout.id, due_at: rollout.next_batch_due_at }]);
    const lateness = sent[0]!.at - Date.parse(rollout.next_batch_due_at!);
    expect(lateness, `arrived ${lateness} ms after the due time`).toBeGreaterThanOrEqual(0);
    expect(lateness, `arrived ${lateness} ms after the due time`).toBeLessThan(2_000);
  });

  it('none when an evaluation that was not woken finds the wake-up already sent', async () => {
    const rollout = await waitingRollout(2_000, true);
    await lib.evaluateRollout(rollout.id, new Date());
    expect(await wakeUps(4_000)).toEqual([]);
  });
});
