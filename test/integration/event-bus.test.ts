/**
 * The EventBridge adapter through the real SDK client, against a loopback stand-in for the
 * EventBridge API (the embedded host has no bus): what PutEvents sends, and how a partly refused
 * answer comes back to `publishToBus`, which sends the refused entries again.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface Call {
  target: string | undefined;
  entries: { Source: string; DetailType: string; Detail: string; EventBusName: string }[];
}

const calls: Call[] = [];
let server: http.Server;
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      calls.push({ target: request.headers['x-amz-target'] as string | undefined, entries: body.Entries });
      // The first call refuses its second entry; every later one takes all.
      const entries = body.Entries.map((_: unknown, n: number) => (calls.length === 1 && n === 1 ? { ErrorCode: 'ThrottlingException', ErrorMessage: 'slow down' } : { EventId: `ev-${calls.length}-${n}` }));
      response.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify({ Entries: entries, FailedEntryCount: calls.length === 1 ? 1 : 0 }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const vars = {
    AWS_ENDPOINT_URL_EVENTBRIDGE: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  };
  for (const [name, value] of Object.entries(vars)) {
    saved[name] = process.env[name];
    process.env[name] = value;
  }
});

afterAll(async () => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

describe('the EventBridge adapter', () => {
  it('sends PutEvents with the entries, and sends the refused one again', async () => {
    const { eventBridgeClient, publishToBus } = await import('../../lib/notifications/event-bus');
    const events = [0, 1, 2].map((n) => ({
      id: `1764682562000-00000${n}-0123456789ab`,
      type: 'image.rollout_paused' as const,
      rollout_id: 'ro-9',
      timestamp: '2026-12-02T13:36:02.000Z',
      details: { reason: `reason ${n}` },
    }));
    await publishToBus('fleet-rollout-events', events, eventBridgeClient, async () => {});
    expect(calls.map((c) => c.target)).toEqual(['AWSEvents.PutEvents', 'AWSEvents.PutEvents']);
    expect(calls[0]!.entries).toHaveLength(3);
    expect(calls[0]!.entries[0]).toMatchObject({ Source: 'fleet-rollout', DetailType: 'image.rollout_paused', EventBusName: 'fleet-rollout-events' });
    expect(JSON.parse(calls[0]!.entries[0]!.Detail)).toMatchObject({ id: events[0]!.id, rollout_id: 'ro-9', description: 'rollout paused: reason 0' });
    expect(calls[1]!.entries.map((e) => JSON.parse(e.Detail).id)).toEqual([events[1]!.id]);
  });
});
