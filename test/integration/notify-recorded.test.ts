/**
 * How recorded events reach the notifications when a handler crashes between writing them and
 * queueing them: the retry records them again (appendMissingEvents finds them written and does
 * not write them twice) and queues them then. And while nobody listens, recording sends nothing.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { waitFor } from '../support/api';

let host: Host;
let server: http.Server;
let url: string;
const received: { delivery: string; body: any }[] = [];

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 30, quiet: true, notificationRetryBaseSeconds: 1 });
  server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      received.push({ delivery: String(request.headers['x-fleet-delivery']), body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await host?.stop();
});

/** Counts (and, while `failing`, fails) the sends to the notify queue made through lib's SQS client. */
function watchNotifySends(sqs: SQSClient) {
  const state = { sends: 0, failing: false };
  sqs.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { QueueUrl?: string };
      if (context.commandName === 'SendMessageBatchCommand' && input.QueueUrl === host.queueUrls.notify) {
        state.sends++;
        if (state.failing) throw new Error('the process died here');
      }
      return next(args);
    },
    { step: 'initialize', name: 'watchNotifySends' },
  );
  return { state, stop: () => sqs.middlewareStack.remove('watchNotifySends') };
}

const fact = (rolloutId: string, n: number) => ({
  type: 'image.device_updated' as const,
  rollout_id: rolloutId,
  device_uuid: `dev-${n}`,
  subject: 'app',
  timestamp: '2026-12-02T13:00:00.000Z',
  details: { app: 'app', image: 'acme/app:v2' },
});

describe('recorded events and the notify queue', () => {
  it('sends nothing while no subscription listens, then a crash between write and send is healed by the retry', async () => {
    const { sqs } = await import('../../lib/aws-clients');
    const { appendEvents, appendMissingEvents, listEvents } = await import('../../lib/store/events');
    const { createSubscription } = await import('../../lib/notifications/subscriptions');
    const watch = watchNotifySends(sqs());
    try {
      await appendEvents([fact('ro-quiet', 1), fact('ro-quiet', 2)]);
      expect(watch.state.sends).toBe(0);

      await createSubscription({ url, event_types: ['image.device_updated'], format: 'json' }, new Date());
      const facts = [fact('ro-crash', 1), fact('ro-crash', 2), fact('ro-crash', 3)];
      watch.state.failing = true;
      await expect(appendEvents(facts)).rejects.toThrow(/the process died here/);
      const written = (await listEvents('ro-crash', 1, 10)).events;
      expect(written).toHaveLength(3);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(received).toHaveLength(0);

      // The retry finds the rows moved already and records their facts as possibly missing.
      watch.state.failing = false;
      await appendMissingEvents(facts);
      expect((await listEvents('ro-crash', 1, 10)).events).toEqual(written);
      const got = await waitFor(async () => (received.length >= 3 ? received : undefined), 20_000, 'three deliveries');
      expect(got.map((r) => r.body.id).sort()).toEqual(written.map((e) => e.id).sort());
      expect(new Set(got.map((r) => r.delivery)).size).toBe(3);
    } finally {
      watch.stop();
    }
  }, 60_000);
});
