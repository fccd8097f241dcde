/**
 * A device deletion cut short: the DELETE fails half-way (a DynamoDB call of it fails, as a crash
 * would leave it), what is left breaks nothing, and the retry finishes the job without counting
 * or recording anything twice. The fault is raised in the SDK client the handlers use, as in
 * interrupted.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerFleet, startPolling, type SimulatedDevice } from '../../agent/simulator/fleet';
import { startHost, type Host } from '../../infra/embedded/host';
import { waitFor } from '../support/api';
import { flow } from '../support/flow';

let host: Host;
let f: ReturnType<typeof flow>;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true });
  f = flow(host);
});

afterAll(async () => {
  for (const stop of stops) await stop();
  await host?.stop();
});

/** Fails the first DynamoDB call `matches` picks, before it reaches the table. */
async function failOnce(matches: (command: string, input: Record<string, any>) => boolean): Promise<{ failed: () => boolean; remove: () => void }> {
  const clients = await import('../../lib/aws-clients');
  const stack = clients.dynamo().middlewareStack as unknown as {
    add(middleware: unknown, options: { step: 'initialize'; name: string }): void;
    remove(name: string): boolean;
  };
  let failed = false;
  const name = `failOnce-${Math.random()}`;
  stack.add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: { input: Record<string, any> }) => {
      if (!failed && matches(String(context.commandName), args.input)) {
        failed = true;
        throw Object.assign(new Error('Internal server error (test)'), { name: 'InternalServerError', $fault: 'server', $metadata: { httpStatusCode: 500 } });
      }
      return next(args);
    },
    { step: 'initialize', name },
  );
  return { failed: () => failed, remove: () => void stack.remove(name) };
}

async function rows(rolloutId: string): Promise<any[]> {
  const { body } = await f.api('GET', `/api/v1/rollouts/${rolloutId}/devices?limit=500`);
  return body.batches.flatMap((batch: any) => batch.devices);
}

/** A two-batch rollout whose first batch waits on one device that never polls: the one to delete. */
async function waitingOn(repository: string): Promise<{ rolloutId: string; victim: SimulatedDevice }> {
  const fleet = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 4, image: `${repository}:1` });
  await f.createPolicy({ image_pattern: `${repository}:*`, update_strategy: 'staged', batch_percentages: [50, 100], batch_delay_minutes: 0, update_timeout_minutes: 30, max_failure_rate: 0 });
  const rolloutId = (await f.push(repository, '2')).body.rollouts[0].id;
  const first = await waitFor(async () => {
    const batch = (await rows(rolloutId)).filter((row) => row.batch === 1);
    return batch.length > 0 && batch.every((row) => row.status === 'scheduled') ? batch : undefined;
  }, 30_000, 'the first batch scheduled');
  const victim = fleet.find((d) => d.uuid === first[0].device_uuid)!;
  stops.push(startPolling(fleet.filter((d) => d !== victim), 100));
  await f.waitForRollout(rolloutId, (d) => d.statistics.updated === 1, 'the other device of the first batch updated');
  return { rolloutId, victim };
}

describe('a device deletion cut short', () => {
  it('leaves the device whole but for its skipped row when the last step fails, and the retry deletes it', async () => {
    const { rolloutId, victim } = await waitingOn('cut/last');
    const fault = await failOnce((command, input) => command === 'DeleteItemCommand' && input.Key?.pk === `DEVICE#${victim.uuid}`);
    try {
      expect((await f.api('DELETE', `/api/v1/devices/${victim.uuid}`)).status).toBe(500);
      expect(fault.failed()).toBe(true);
    } finally {
      fault.remove();
    }
    // Still there, listed and readable, and out of the rollout, which completes without it.
    expect((await f.api('GET', `/api/v1/devices/${victim.uuid}`)).status).toBe(200);
    const done = await f.waitForStatus(rolloutId, 'completed');
    expect(done.statistics).toMatchObject({ updated: 3, skipped: 1, failures: 0 });

    expect((await f.api('DELETE', `/api/v1/devices/${victim.uuid}`)).status).toBe(204);
    expect((await f.api('GET', `/api/v1/devices/${victim.uuid}`)).status).toBe(404);
    expect((await f.api('DELETE', `/api/v1/devices/${victim.uuid}`)).status).toBe(404);
    // The retry found the row skipped: one event, one count.
    expect((await f.events(rolloutId)).filter((e) => e.type === 'image.device_skipped')).toHaveLength(1);
    expect((await f.rollout(rolloutId)).statistics).toMatchObject({ updated: 3, skipped: 1 });
  });

  it("records the skip's event on the retry when the first attempt failed right after the row moved", async () => {
    const { rolloutId, victim } = await waitingOn('cut/event');
    const fault = await failOnce((command, input) => command === 'PutItemCommand' && String(input.Item?.sk ?? '').startsWith('EVENT#') && JSON.stringify(input.Item).includes('image.device_skipped'));
    try {
      expect((await f.api('DELETE', `/api/v1/devices/${victim.uuid}`)).status).toBe(500);
      expect(fault.failed()).toBe(true);
    } finally {
      fault.remove();
    }
    expect((await f.events(rolloutId)).filter((e) => e.type === 'image.device_skipped')).toHaveLength(0);

    expect((await f.api('DELETE', `/api/v1/devices/${victim.uuid}`)).status).toBe(204);
    const done = await f.waitForStatus(rolloutId, 'completed');
    expect(done.statistics).toMatchObject({ updated: 3, skipped: 1, failures: 0 });
    const skipped = (await f.events(rolloutId)).filter((e) => e.type === 'image.device_skipped');
    expect(skipped).toHaveLength(1);
    expect(skipped[0]).toMatchObject({ device_uuid: victim.uuid, details: { reason: 'device deleted' } });
  });
});
