/**
 * Notifications end to end on the embedded host: subscriptions through the admin API, a real
 * rollout's events delivered to loopback receivers, signed with the secret the create answered,
 * retried with the same delivery id, never holding the rollout up, and refused destinations
 * leaving nothing written.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerFleet, startPolling, type SimulatedDevice } from '../../agent/simulator/fleet';
import { emulatorClientConfig } from '../../infra/embedded/emulators';
import { startHost, type Host } from '../../infra/embedded/host';
import { waitFor } from '../support/api';
import { flow } from '../support/flow';

interface Received {
  headers: http.IncomingHttpHeaders;
  raw: string;
  at: number;
}

/** A loopback receiver that answers each request with what `answer` says (a status, or `hang` to never answer). */
async function receiver(answer: (n: number, headers: http.IncomingHttpHeaders) => number | 'hang' = () => 200) {
  const received: Received[] = [];
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      received.push({ headers: request.headers, raw: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      const what = answer(received.length, request.headers);
      if (what === 'hang') hanging.add(response);
      else response.writeHead(what, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return {
    url,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const response of hanging) response.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const verify = (secret: string, raw: string, header: unknown) => header === `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;

let host: Host;
let f: ReturnType<typeof flow>;
const receivers: Awaited<ReturnType<typeof receiver>>[] = [];

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true, notificationRetryBaseSeconds: 1 });
  f = flow(host);
});

afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await host?.stop();
});

async function subscribe(body: Record<string, unknown>) {
  const created = await f.api('POST', '/api/v1/notifications', { body });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body as { subscription: { id: string }; secret: string };
}

describe('subscriptions', () => {
  it('refuse metadata, link-local and non-http destinations and unknown event types with a 400, writing nothing', async () => {
    const before = await f.api('GET', '/api/v1/notifications?limit=200');
    const refused: [Record<string, unknown>, RegExp][] = [
      [{ url: 'http://169.254.169.254/latest/meta-data/', event_types: ['*'] }, /169\.254\.169\.254.*may not reach/],
      [{ url: 'http://[::ffff:169.254.169.254]/', event_types: ['*'] }, /may not reach/],
      [{ url: 'http://[fd00:ec2::254]/', event_types: ['*'] }, /may not reach/],
      [{ url: 'ftp://example.com/hook', event_types: ['*'] }, /must be http or https, not ftp/],
      [{ url: 'file:///etc/passwd', event_types: ['*'] }, /must be http or https/],
      [{ url: 'not a url', event_types: ['*'] }, /absolute http\(s\) URL/],
      [{ url: 'http://user:pw@example.com/', event_types: ['*'] }, /credentials/],
      [{ url: 'https://example.com/hook', event_types: ['image.nothing_like_this'] }, /event_types\[0\]/],
      [{ url: 'https://example.com/hook', event_types: [] }, /at least one event type/],
      [{ url: 'https://example.com/hook', event_types: ['*'], format: 'xml' }, /format/],
      [{ url: 'https://example.com/hook', event_types: ['*'], secret: 'short' }, /secret/],
    ];
    for (const [body, message] of refused) {
      const answer = await f.api('POST', '/api/v1/notifications', { body });
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.error.message).toMatch(message);
    }
    const after = await f.api('GET', '/api/v1/notifications?limit=200');
    expect(after.body.subscriptions).toEqual(before.body.subscriptions);
  });

  it('show the secret once, then never; list in pages, update, delete', async () => {
    const created = await subscribe({ url: 'https://example.com/a', event_types: ['image.rollout_completed', 'image.rollout_completed'] });
    expect(created.secret).toMatch(/^whsec_/);
    expect(created.subscription).toMatchObject({ url: 'https://example.com/a', event_types: ['image.rollout_completed'], format: 'json', last_delivery: null });
    const second = await subscribe({ url: 'https://example.com/b', event_types: ['*', 'image.batch_started'], secret: 'a-secret-of-my-own-choosing' });
    expect(second.secret).toBe('a-secret-of-my-own-choosing');
    expect((second.subscription as any).event_types).toEqual(['*']);

    const got = await f.api('GET', `/api/v1/notifications/${created.subscription.id}`);
    expect(got.status).toBe(200);
    expect(JSON.stringify(got.body)).not.toContain(created.secret);
    const first = await f.api('GET', '/api/v1/notifications?limit=1');
    expect(first.body.subscriptions).toHaveLength(1);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const next = await f.api('GET', `/api/v1/notifications?limit=1&cursor=${first.body.next_cursor}`);
    expect(next.body.subscriptions[0].id).not.toBe(first.body.subscriptions[0].id);
    expect(JSON.stringify([first.body, next.body])).not.toMatch(/whsec_|a-secret-of-my-own/);

    const updated = await f.api('PUT', `/api/v1/notifications/${created.subscription.id}`, { body: { url: 'https://example.com/c', event_types: ['image.rollout_failed'], format: 'slack' } });
    expect(updated.status).toBe(200);
    expect(updated.body.subscription).toMatchObject({ url: 'https://example.com/c', event_types: ['image.rollout_failed'], format: 'slack' });
    expect((await f.api('PUT', `/api/v1/notifications/${created.subscription.id}`, { body: { url: 'http://169.254.169.254/', event_types: ['*'] } })).status).toBe(400);
    expect((await f.api('GET', `/api/v1/notifications/${created.subscription.id}`)).body.subscription.url).toBe('https://example.com/c');

    for (const id of [created.subscription.id, second.subscription.id]) {
      expect((await f.api('DELETE', `/api/v1/notifications/${id}`)).status).toBe(204);
      expect((await f.api('GET', `/api/v1/notifications/${id}`)).status).toBe(404);
      expect((await f.api('DELETE', `/api/v1/notifications/${id}`)).status).toBe(404);
    }
  });
});

describe("a rollout's events", () => {
  let fleet: SimulatedDevice[];
  let stopPolling: () => Promise<void>;

  beforeAll(async () => {
    fleet = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 4, image: 'acme/notified:v1' });
    stopPolling = startPolling(fleet, 100);
  });

  afterAll(async () => {
    await stopPolling?.();
  });

  it('reach each receiver signed, once per event and subscribed type, retried with the same id, while a hanging receiver holds nothing up', async () => {
    const json = await receiver();
    const slack = await receiver();
    // Fails a delivery's first two attempts: by attempt, not by request, since delivery is at
    // least once and an event recorded twice (its outbox delivered by two readers) is delivered
    // twice, each copy with its own attempts and the same delivery id.
    const flaky = await receiver((_, headers) => (Number(headers['x-fleet-delivery-attempt']) <= 2 ? 500 : 200));
    const hanging = await receiver(() => 'hang');
    receivers.push(json, slack, flaky, hanging);
    const jsonTypes = ['image.rollout_started', 'image.device_scheduled', 'image.rollout_completed'];
    const jsonSub = await subscribe({ url: json.url, event_types: jsonTypes });
    const slackSub = await subscribe({ url: slack.url, event_types: ['image.rollout_completed'], format: 'slack' });
    const flakySub = await subscribe({ url: flaky.url, event_types: ['image.rollout_created'] });
    await subscribe({ url: hanging.url, event_types: ['*'] });

    await f.createPolicy({ image_pattern: 'acme/notified:*', update_strategy: 'auto', batch_delay_minutes: 0, update_timeout_minutes: 5 });
    const pushedAt = Date.now();
    const accepted = await f.push('acme/notified', 'v2');
    expect(accepted.status).toBe(202);
    const rolloutId: string = accepted.body.rollouts[0].id;
    await f.waitForStatus(rolloutId, 'completed', 30_000);
    const completedAfterMs = Date.now() - pushedAt;
    const events = await f.events(rolloutId);

    // Every subscribed event of the log arrives, signed with the secret from the 201.
    const expected = events.filter((e) => jsonTypes.includes(e.type));
    expect(expected.length).toBe(2 + fleet.length);
    const got = await waitFor(async () => (new Set(json.received.map((r) => r.headers['x-fleet-delivery'])).size >= expected.length ? json.received : undefined), 20_000, 'json deliveries');
    for (const r of got) {
      expect(verify(jsonSub.secret, r.raw, r.headers['x-fleet-signature-256'])).toBe(true);
      expect(verify(flakySub.secret, r.raw, r.headers['x-fleet-signature-256'])).toBe(false);
      expect(r.headers['content-type']).toBe('application/json');
      const body = JSON.parse(r.raw);
      expect(r.headers['x-fleet-event']).toBe(body.type);
      expect(jsonTypes).toContain(body.type);
    }
    const bodies = new Map(got.map((r) => [r.headers['x-fleet-delivery'], JSON.parse(r.raw)]));
    expect([...bodies.values()].map((b) => b.id).sort()).toEqual(expected.map((e) => e.id).sort());
    const completed = [...bodies.values()].find((b) => b.type === 'image.rollout_completed');
    const logged = events.find((e) => e.type === 'image.rollout_completed');
    expect(completed).toMatchObject({ id: logged.id, rollout_id: rolloutId, timestamp: logged.timestamp, details: logged.details, description: expect.stringMatching(/^rollout completed/) });
    // Ids are per event (and per subscription: the slack one's differs for the same event).
    expect(bodies.size).toBe(expected.length);

    const slackGot = await waitFor(async () => (slack.received.length >= 1 ? slack.received : undefined), 20_000, 'slack delivery');
    const slackBody = JSON.parse(slackGot[0]!.raw);
    expect(Object.keys(slackBody)).toEqual(['text']);
    expect(slackBody.text).toContain('rollout completed');
    expect(slackBody.text).toContain(rolloutId);
    expect(verify(slackSub.secret, slackGot[0]!.raw, slackGot[0]!.headers['x-fleet-signature-256'])).toBe(true);
    expect(slackGot[0]!.headers['x-fleet-delivery']).not.toBe([...bodies.entries()].find(([, b]) => b.type === 'image.rollout_completed')![0]);

    // 500, 500, then 200: the third attempt gets through, with the first one's delivery id, after a backoff.
    const attemptOf = (r: Received) => r.headers['x-fleet-delivery-attempt'];
    const attempts = await waitFor(async () => (flaky.received.some((r) => attemptOf(r) === '3') ? flaky.received : undefined), 20_000, 'third attempt');
    const ids = new Set(attempts.map((r) => r.headers['x-fleet-delivery']));
    expect(ids.size).toBe(1);
    expect([...new Set(attempts.map(attemptOf))].sort()).toEqual(['1', '2', '3']);
    // Each retry waits at least its backoff (a delayed message is never early; a busy host may
    // make it later): at least the base of 1 s after an attempt 1, twice that after an attempt 2.
    // The first attempt n + 1 follows some attempt n by its backoff, so the first of each does too.
    const firstAt = (attempt: string) => attempts.find((r) => attemptOf(r) === attempt)!.at;
    expect(firstAt('2') - firstAt('1')).toBeGreaterThanOrEqual(900);
    expect(firstAt('3') - firstAt('2')).toBeGreaterThanOrEqual(1_900);
    for (const r of attempts) expect(verify(flakySub.secret, r.raw, r.headers['x-fleet-signature-256'])).toBe(true);
    const flakyState = await waitFor(async () => {
      const { body } = await f.api('GET', `/api/v1/notifications/${flakySub.subscription.id}`);
      return body.subscription.last_delivery?.status === 'delivered' ? body.subscription : undefined;
    }, 10_000, 'flaky subscription shows delivered');
    expect(flakyState.last_delivery).toMatchObject({ status: 'delivered', attempt: 3, http_status: 200, error: null, event_type: 'image.rollout_created' });
    expect(flakyState.secret).toBeUndefined();

    // The hanging receiver was asked about many events, each attempt held 5 s: had the rollout
    // waited on it for each of them once, it could not have completed when it did.
    const hungEvents = new Set(hanging.received.map((r) => r.headers['x-fleet-delivery'])).size;
    expect(hungEvents).toBeGreaterThanOrEqual(events.length - 1);
    expect(completedAfterMs).toBeLessThan(hungEvents * 5_000);
    const hangingState = await waitFor(async () => {
      const { body } = await f.api('GET', '/api/v1/notifications?limit=200');
      const sub = body.subscriptions.find((s: any) => s.url === hanging.url);
      return sub?.last_delivery?.status === 'failed' ? sub : undefined;
    }, 15_000, 'hanging subscription shows its failure');
    expect(hangingState.last_delivery.error).toMatch(/no answer within 5 s/);
  }, 90_000);

  it('a delivery that fails every attempt ends in the deliveries dead-letter queue', async () => {
    const broken = await receiver(() => 503);
    receivers.push(broken);
    const sub = await subscribe({ url: broken.url, event_types: ['image.rollout_created'] });
    const accepted = await f.push('acme/notified', 'v3');
    expect(accepted.status).toBe(202);
    const sqs = new SQSClient({ ...emulatorClientConfig, endpoint: host.endpoints.sqs });
    try {
      const dead = await waitFor(async () => {
        const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: host.deadLetterQueueUrls.deliveries, MaxNumberOfMessages: 10, VisibilityTimeout: 60 }));
        return Messages.find((m) => JSON.parse(m.Body ?? '{}').subscription_id === sub.subscription.id);
      }, 60_000, 'delivery in the dead-letter queue');
      expect(JSON.parse(dead.Body!).event.type).toBe('image.rollout_created');
    } finally {
      sqs.destroy();
    }
    expect(broken.received.length).toBe(5);
    expect(new Set(broken.received.map((r) => r.headers['x-fleet-delivery'])).size).toBe(1);
    const { body } = await f.api('GET', `/api/v1/notifications/${sub.subscription.id}`);
    expect(body.subscription.last_delivery).toMatchObject({ status: 'failed', attempt: 5, http_status: 503, error: 'HTTP 503' });
  }, 90_000);
});
