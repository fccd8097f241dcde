/** The pure parts of notifications: matching, signing, delivery ids, bodies, backoff, destinations, bus batching. */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { eventTypes, type RolloutEvent } from '../../lib/domain/types';
import { addressPolicy, parseAllowedCidrs } from '../../lib/health/address-policy';
import { backoffSeconds } from '../../lib/notifications/deliver';
import { checkDestination, notificationDefaultRanges } from '../../lib/notifications/destination';
import { busEntry, publishToBus, type BusEntry, type PutEventsClient } from '../../lib/notifications/event-bus';
import { recordedEventsMessages } from '../../lib/notifications/messages';
import { deliveryBody, deliveryId, matches, signature } from '../../lib/notifications/payload';

const event = (over: Partial<RolloutEvent> = {}): RolloutEvent => ({
  id: '1764682562000-000003-0123456789ab',
  type: 'image.batch_started',
  rollout_id: 'ro-1',
  timestamp: '2026-12-02T13:36:02.000Z',
  details: { batch: 2, devices: 8, percentage: 50 },
  ...over,
});

describe('matching', () => {
  it('takes the listed types, or every type for *', () => {
    expect(matches(['image.batch_started'], event())).toBe(true);
    expect(matches(['image.batch_completed', 'image.rollout_failed'], event())).toBe(false);
    for (const type of eventTypes) expect(matches(['*'], { type })).toBe(true);
  });
});

describe('signing and delivery ids', () => {
  it('signs the raw body as GitHub does: sha256=<hex HMAC-SHA256>', () => {
    const body = deliveryBody('json', event());
    const expected = createHmac('sha256', 'the-secret-of-it-all').update(body).digest('hex');
    expect(signature('the-secret-of-it-all', body)).toBe(`sha256=${expected}`);
    expect(signature('another-secret-entirely', body)).not.toBe(`sha256=${expected}`);
    expect(signature('the-secret-of-it-all', body.replace('50', '51'))).not.toBe(`sha256=${expected}`);
  });

  it('gives one id per subscription and event, the same every time', () => {
    expect(deliveryId('sub_a', event().id)).toBe(deliveryId('sub_a', event().id));
    expect(deliveryId('sub_a', event().id)).not.toBe(deliveryId('sub_b', event().id));
    expect(deliveryId('sub_a', event().id)).not.toBe(deliveryId('sub_a', event({ id: '1764682562000-000004-0123456789ab' }).id));
    expect(deliveryId('sub_a', event().id)).toMatch(/^dlv_[0-9a-f]{32}$/);
  });
});

describe('bodies', () => {
  it('json: the event with its description', () => {
    expect(JSON.parse(deliveryBody('json', event({ device_uuid: 'dev-1' })))).toEqual({
      id: event().id,
      type: 'image.batch_started',
      rollout_id: 'ro-1',
      device_uuid: 'dev-1',
      timestamp: '2026-12-02T13:36:02.000Z',
      details: { batch: 2, devices: 8, percentage: 50 },
      description: 'batch 2 started: 8 devices (50%)',
    });
  });

  it('slack: an incoming-webhook message, text only', () => {
    expect(JSON.parse(deliveryBody('slack', event()))).toEqual({ text: '[image.batch_started] rollout ro-1: batch 2 started: 8 devices (50%)' });
  });
});

describe('backoff', () => {
  it('doubles from the base, capped at 15 minutes, with at most 20% jitter', () => {
    expect([1, 2, 3, 4].map((n) => backoffSeconds(n, 30, () => 0))).toEqual([30, 60, 120, 240]);
    expect(backoffSeconds(2, 30, () => 0.999)).toBeLessThanOrEqual(72);
    expect(backoffSeconds(20, 30, () => 0.5)).toBe(900);
  });
});

describe('destinations', () => {
  const policy = addressPolicy(parseAllowedCidrs(undefined, notificationDefaultRanges));

  it('take public http(s) receivers', () => {
    expect(checkDestination('https://hooks.slack.com/services/T0/B0/x', policy).href).toBe('https://hooks.slack.com/services/T0/B0/x');
    expect(checkDestination('http://203.0.113.7:8080/hook', policy).hostname).toBe('203.0.113.7');
    expect(checkDestination('http://10.1.2.3/hook', policy).hostname).toBe('10.1.2.3');
  });

  it('refuse metadata, link-local, loopback by default, and other schemes', () => {
    for (const url of ['http://169.254.169.254/', 'http://[fd00:ec2::254]/', 'http://[::ffff:169.254.169.254]/', 'http://0.0.0.0/', 'http://127.0.0.1:9001/', 'http://[::1]/', 'http://[fe80::1]/']) {
      expect(() => checkDestination(url, policy), url).toThrow(/may not reach/);
    }
    expect(() => checkDestination('gopher://example.com/', policy)).toThrow(/must be http or https/);
    expect(() => checkDestination('//example.com/', policy)).toThrow(/absolute/);
  });

  it('leave the metadata address refused whatever the allowed ranges say', () => {
    const everything = addressPolicy(['0.0.0.0/0', '::/0']);
    expect(() => checkDestination('http://169.254.169.254/', everything)).toThrow(/may not reach/);
    expect(checkDestination('http://127.0.0.1:4000/', everything).port).toBe('4000');
  });
});

describe('the notify queue', () => {
  it('one message for a page of events, split only where a message would pass 200 KiB', () => {
    const page = Array.from({ length: 200 }, (_, i) => event({ id: `1764682562000-${String(i).padStart(6, '0')}-0123456789ab` }));
    expect(recordedEventsMessages(page)).toHaveLength(1);
    const big = Array.from({ length: 10 }, (_, i) => event({ id: `1764682562000-${String(i).padStart(6, '0')}-0123456789ab`, details: { reason: 'x'.repeat(50_000) } }));
    const messages = recordedEventsMessages(big);
    expect(messages.length).toBeGreaterThan(1);
    expect(messages.flatMap((m) => m.events)).toEqual(big);
    for (const m of messages) expect(Buffer.byteLength(JSON.stringify(m))).toBeLessThan(256 * 1024);
  });
});

describe('the EventBridge bus', () => {
  const events = Array.from({ length: 23 }, (_, i) => event({ id: `1764682562000-${String(i).padStart(6, '0')}-0123456789ab` }));
  const noPause = async () => {};

  it('puts at most 10 entries a call: source fleet-rollout, detail-type the event type, detail the event', async () => {
    const calls: BusEntry[][] = [];
    const client: PutEventsClient = { putEvents: async (entries) => (calls.push(entries), entries.map(() => ({}))) };
    await publishToBus('bus', events, client, noPause);
    expect(calls.map((c) => c.length)).toEqual([10, 10, 3]);
    expect(calls[0]![0]).toEqual(busEntry('bus', events[0]!));
    expect(calls[0]![0]).toMatchObject({ Source: 'fleet-rollout', DetailType: 'image.batch_started', EventBusName: 'bus' });
    expect(JSON.parse(calls[0]![0]!.Detail)).toMatchObject({ id: events[0]!.id, description: 'batch 2 started: 8 devices (50%)' });
  });

  it('sends the refused entries again, and fails when they stay refused', async () => {
    const sent: string[][] = [];
    let refuseOnce = true;
    const flaky: PutEventsClient = {
      putEvents: async (entries) => {
        sent.push(entries.map((e) => JSON.parse(e.Detail).id));
        const answer = entries.map((_, n) => (refuseOnce && n % 3 === 0 ? { errorCode: 'ThrottlingException' } : {}));
        refuseOnce = false;
        return answer;
      },
    };
    await publishToBus('bus', events.slice(0, 10), flaky, noPause);
    expect(sent[1]).toEqual([0, 3, 6, 9].map((n) => events[n]!.id));

    const refusing: PutEventsClient = { putEvents: async (entries) => entries.map(() => ({ errorCode: 'InternalFailure', errorMessage: 'nope' })) };
    await expect(publishToBus('bus', events.slice(0, 2), refusing, noPause)).rejects.toThrow(/refused 2 event\(s\) after 3 tries: InternalFailure nope/);
  });
});
