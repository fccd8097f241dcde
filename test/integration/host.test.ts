/**
 * The embedded host against fixture handlers: that it behaves like API Gateway, SQS event source
 * mappings and the EventBridge rule where the real handlers depend on it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { ReceiveMessageCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEvent, ScheduledEvent, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startHost, type Host, type HostOptions } from '../../infra/embedded/host';
import type { InvocationRecord } from '../../infra/embedded/lambda-runtime';
import type { FunctionSpec } from '../../infra/manifest';
import { keys } from '../../lib/store/keys';
import { sha256Hex } from '../../lib/secrets';
import { fixtureManifest } from '../fixtures/host/manifest';
import { invocationsOf, maxConcurrency, resetRecorder } from '../fixtures/host/recorder';

const clientConfig = { region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };

let host: Host | undefined;
const clients: { destroy(): void }[] = [];

async function start(options: Partial<HostOptions> = {}): Promise<Host> {
  // A fresh module registry per host, as a new Lambda sandbox has: lib/ builds its clients and
  // config once per module instance, from the environment of the host that loaded it.
  vi.resetModules();
  host = await startHost({ port: 0, dataDir: ':memory:', quiet: true, manifest: fixtureManifest, ...options });
  return host;
}

function sqsOf(h: Host): SQSClient {
  const client = new SQSClient({ ...clientConfig, endpoint: h.endpoints.sqs });
  clients.push(client);
  return client;
}

afterEach(async () => {
  clients.splice(0).forEach((client) => client.destroy());
  await host?.stop();
  host = undefined;
  resetRecorder();
});

const waitUntil = (check: () => unknown, timeout = 10_000) => vi.waitFor(check, { timeout, interval: 50 });

describe('HTTP routes', () => {
  it('turn a request into an API Gateway v1 proxy event and write the result back', async () => {
    const h = await start();
    const response = await fetch(`${h.url}/items/a%20b?x=1&x=2&q=hello+world`, {
      method: 'POST',
      headers: { 'X-Custom': 'one', 'content-type': 'application/json' },
      body: '{"hi":"there"}',
    });

    expect(response.status).toBe(201);
    expect(response.headers.get('x-fixture')).toBe('echo');
    expect(response.headers.get('x-count')).toBe('2');
    expect(response.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(response.headers.get('content-type')).toBe('application/json');
    const { event, functionName, remainingMs } = (await response.json()) as {
      event: APIGatewayProxyEvent;
      functionName: string;
      remainingMs: number;
    };
    expect(event).toMatchObject({
      resource: '/items/{itemId}',
      path: '/items/a%20b',
      httpMethod: 'POST',
      pathParameters: { itemId: 'a b' },
      queryStringParameters: { x: '2', q: 'hello world' },
      multiValueQueryStringParameters: { x: ['1', '2'], q: ['hello world'] },
      body: '{"hi":"there"}',
      isBase64Encoded: false,
      requestContext: {
        stage: 'local',
        resourcePath: '/items/{itemId}',
        httpMethod: 'POST',
        path: '/local/items/a%20b',
        identity: { sourceIp: '127.0.0.1' },
      },
    });
    expect(event.headers['x-custom']).toBe('one');
    expect(event.multiValueHeaders['x-custom']).toEqual(['one']);
    expect(event.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(response.headers.get('x-amzn-requestid')).toBe(event.requestContext.requestId);
    expect(Math.abs(event.requestContext.requestTimeEpoch - Date.now())).toBeLessThan(5000);
    expect(functionName).toBe('api');
    expect(remainingMs).toBeGreaterThan(0);
    expect(remainingMs).toBeLessThanOrEqual(5000);
  });

  it('prefer a literal path segment over a parameter and pass null for what the request lacks', async () => {
    const h = await start();
    const { event } = (await (await fetch(`${h.url}/items/special`)).json()) as { event: APIGatewayProxyEvent };
    expect(event).toMatchObject({
      resource: '/items/special',
      pathParameters: null,
      queryStringParameters: null,
      multiValueQueryStringParameters: null,
      body: null,
    });
  });

  it('decode a base64 result body', async () => {
    const h = await start();
    const response = await fetch(`${h.url}/binary`);
    expect(Buffer.from(await response.arrayBuffer())).toEqual(Buffer.from([0, 1, 254, 255]));
  });

  it('answer 404 with a JSON error when no route matches, as the deployed API does', async () => {
    const h = await start();
    const missing = await fetch(`${h.url}/nowhere`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { code: 'not_found', message: 'no route for GET /nowhere' } });

    const wrongMethod = await fetch(`${h.url}/boom`, { method: 'DELETE' });
    expect(wrongMethod.status).toBe(404);
    expect(await wrongMethod.json()).toEqual({ error: { code: 'not_found', message: 'no route for DELETE /boom' } });
  });

  it('refuse a body over 10 MiB with 413 without invoking the handler', async () => {
    const h = await start();
    const tooLarge = Buffer.alloc(10 * 1024 * 1024 + 1, 'a');
    const declared = await fetch(`${h.url}/items/big`, { method: 'POST', body: tooLarge });
    expect(declared.status).toBe(413);
    expect(await declared.json()).toMatchObject({ error: { code: 'payload_too_large' } });

    // Without a Content-Length the limit is enforced while the body streams in.
    const chunked = await fetch(`${h.url}/items/big`, {
      method: 'POST',
      body: new Blob([tooLarge]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);

    const fits = await fetch(`${h.url}/items/big`, { method: 'POST', body: tooLarge.subarray(1) });
    expect(fits.status).toBe(201);
  });

  it('refuse a request its HTTP parser cannot take with a JSON error, and close the connection', async () => {
    const h = await start();
    const raw = (request: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(h.port, '127.0.0.1', () => socket.end(request));
        const chunks: Buffer[] = [];
        socket.on('data', (chunk) => chunks.push(chunk));
        socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
        socket.on('error', reject);
      });
    const answer = (text: string) => ({ status: text.split(' ')[1], body: JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) });

    const longHead = await raw(`GET /items/1 HTTP/1.1\r\nHost: x\r\nx-padding: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(answer(longHead)).toEqual({ status: '431', body: { error: { code: 'headers_too_large', message: expect.stringMatching(/^the request line and headers exceed \d+ bytes$/) } } });
    expect(longHead).toMatch(/\r\ncontent-type: application\/json\r\n/);

    const garbled = await raw('GET /items/1 NOT-HTTP\r\n\r\n');
    expect(answer(garbled)).toEqual({ status: '400', body: { error: { code: 'invalid_request', message: 'the request is not valid HTTP/1.1' } } });
  });

  it('answer 502 like API Gateway when the function throws, times out or returns a malformed result', async () => {
    const h = await start();
    for (const path of ['/boom', '/malformed', '/slow']) {
      const response = await fetch(`${h.url}${path}`);
      expect(response.status, path).toBe(502);
      expect(await response.json()).toEqual({ error: { code: 'internal_error', message: 'Internal server error' } });
    }
  });

  it('tell onInvocation how each invocation ended, with its function, memory and duration', async () => {
    const records: InvocationRecord[] = [];
    const h = await start({ onInvocation: (record) => records.push(record) });
    for (const path of ['/items/1', '/boom', '/slow']) await fetch(`${h.url}${path}`);
    const routed = records.filter((r) => r.function === 'api' || r.function === 'slow');
    expect(routed.map(({ function: name, memoryMb, outcome }) => ({ name, memoryMb, outcome }))).toEqual([
      { name: 'api', memoryMb: 256, outcome: 'ok' },
      { name: 'api', memoryMb: 256, outcome: 'error' },
      { name: 'slow', memoryMb: 128, outcome: 'timeout' },
    ]);
    // Node keeps timers on the event loop's cached millisecond clock, so a 1 s timeout can fire
    // when Date.now() says 999 ms have passed (seen once under load in CI).
    expect(routed[2]!.durationMs).toBeGreaterThanOrEqual(990);
  });
});

describe('SQS triggers', () => {
  type Delivery = SQSRecord & { id: string };
  const deliveries = (): Delivery[] =>
    (invocationsOf('consumer') as SQSEvent[])
      .flatMap((event) => event.Records)
      .map((record) => ({ ...record, id: (JSON.parse(record.body) as { id: string }).id }));
  const deliveriesOf = (id: string) => deliveries().filter((delivery) => delivery.id === id);

  it('deliver messages as an SQS event and redeliver only the records reported as failed', async () => {
    const h = await start({ standardQueueConcurrency: 1 });
    await sqsOf(h).send(
      new SendMessageBatchCommand({
        QueueUrl: h.queueUrls.targets,
        Entries: [
          {
            Id: 'ok',
            MessageBody: JSON.stringify({ id: 'ok' }),
            MessageAttributes: { kind: { DataType: 'String', StringValue: 'fixture' } },
          },
          { Id: 'retry', MessageBody: JSON.stringify({ id: 'retry', fail: 'once' }) },
        ],
      }),
    );

    await waitUntil(() => expect(deliveriesOf('retry')).toHaveLength(2));
    // Longer than the visibility timeout: a record that was not deleted would be back by now.
    await sleep(1500);
    expect(deliveriesOf('ok')).toHaveLength(1);
    expect(deliveriesOf('retry').map((d) => d.attributes.ApproximateReceiveCount)).toEqual(['1', '2']);

    const [ok] = deliveriesOf('ok');
    expect(ok).toMatchObject({
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:fleet-targets',
      awsRegion: 'us-east-1',
      md5OfBody: createHash('md5').update(JSON.stringify({ id: 'ok' })).digest('hex'),
      messageAttributes: {
        kind: { dataType: 'String', stringValue: 'fixture', stringListValues: [], binaryListValues: [] },
      },
      attributes: { ApproximateReceiveCount: '1' },
    });
    expect(ok?.attributes.SentTimestamp).toMatch(/^\d+$/);
    expect(ok?.attributes.ApproximateFirstReceiveTimestamp).toMatch(/^\d+$/);
  });

  it("receive at once what the host's clients send to a queue that has been idle", async () => {
    const h = await start();
    // The clients the handlers send with, as the host's module registry built them.
    const { sqs } = await import('../../lib/aws-clients');
    const { SendMessageCommand } = await import('@aws-sdk/client-sqs');
    const waits: number[] = [];
    for (const id of ['idle-1', 'idle-2', 'idle-3']) {
      // Long enough for the idle pause between receives to have grown to its most (1 s).
      await sleep(2000);
      const sent = performance.now();
      await sqs().send(new SendMessageCommand({ QueueUrl: h.queueUrls.targets, MessageBody: JSON.stringify({ id }) }));
      await waitUntil(() => expect(deliveriesOf(id)).toHaveLength(1));
      waits.push(performance.now() - sent);
    }
    // Woken by the send, not by the next receive: each well under the pause it would otherwise wait out.
    expect(waits.every((ms) => ms < 400), `waits ${waits.map(Math.round).join(', ')} ms`).toBe(true);
  });

  it('move a message that keeps failing to the dead-letter queue after maxReceiveCount receives', async () => {
    const h = await start();
    const sqs = sqsOf(h);
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: h.queueUrls.targets,
        Entries: [{ Id: 'poison', MessageBody: JSON.stringify({ id: 'poison', fail: 'always' }) }],
      }),
    );

    const dead: string[] = [];
    await waitUntil(async () => {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: h.deadLetterQueueUrls.targets, MaxNumberOfMessages: 10, VisibilityTimeout: 60 }),
      );
      dead.push(...Messages.map((m) => m.Body ?? ''));
      expect(dead).toHaveLength(1);
    });
    expect(JSON.parse(dead[0] ?? '{}')).toEqual({ id: 'poison', fail: 'always' });
    expect(deliveriesOf('poison')).toHaveLength(fixtureManifest.queues.targets.maxReceiveCount);
  });

  it('never process two batches of one FIFO message group at once, and keep the group in order', async () => {
    const h = await start();
    const sqs = sqsOf(h);
    const sent: Record<string, string[]> = { g1: [], g2: [] };
    for (const round of [0, 1]) {
      await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: h.queueUrls.orchestration,
          Entries: Array.from({ length: 6 }, (_, i) => {
            const group = i % 3 === 2 ? 'g2' : 'g1';
            const body = `${group}-${round}-${i}`;
            sent[group]?.push(body);
            return { Id: `m${i}`, MessageBody: body, MessageGroupId: group, MessageDeduplicationId: body };
          }),
        }),
      );
    }

    const received = () => (invocationsOf('sequencer') as SQSEvent[]).flatMap((event) => event.Records);
    await waitUntil(() => expect(received()).toHaveLength(12));
    const order = (group: string) =>
      received()
        .filter((record) => record.attributes.MessageGroupId === group)
        .map((record) => record.body);
    expect(order('g1')).toEqual(sent.g1);
    expect(order('g2')).toEqual(sent.g2);
    expect(maxConcurrency('group:g1')).toBe(1);
    expect(maxConcurrency('group:g2')).toBe(1);
    expect(Math.max(...(invocationsOf('sequencer') as SQSEvent[]).map((e) => e.Records.length))).toBeLessThanOrEqual(2);
  });
});

describe('the once-a-minute rule', () => {
  it('invokes the everyMinute function at start and then every two ticks', async () => {
    await start({ tickSeconds: 0.2 });
    await waitUntil(() => expect(invocationsOf('ticker').length).toBeGreaterThanOrEqual(3), 5000);
    const [first] = invocationsOf('ticker') as { event: ScheduledEvent; tickSeconds: number }[];
    expect(first?.tickSeconds).toBe(0.2);
    expect(first?.event).toMatchObject({
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      region: 'us-east-1',
      resources: ['arn:aws:events:us-east-1:123456789012:rule/fleet-ticker-every-minute'],
      detail: {},
    });
  });
});

describe("a function's environment", () => {
  const reach = async (h: Host, what: string) => {
    const response = await fetch(`${h.url}/reach/${what}`);
    return { status: response.status, body: (await response.json()) as { ok?: true; error?: string } };
  };

  it('holds only what the manifest grants it: another queue or the table fails with the error AWS would give', async () => {
    const h = await start();
    expect(await reach(h, 'targets')).toEqual({ status: 200, body: { ok: true } });
    expect(await reach(h, 'tick')).toEqual({
      status: 500,
      body: { error: 'ConfigError: environment variable TICK_QUEUE_URL is required but not set (the function sends to the tick queue, which its sendsTo does not grant)' },
    });
    expect(await reach(h, 'table')).toEqual({ status: 500, body: { error: 'ConfigError: environment variable TABLE_NAME is required but not set' } });

    // Config is per function: the store fixture, granted the table, still has it.
    expect((await fetch(`${h.url}/kv/after`, { method: 'PUT', body: 'x' })).status).toBe(204);
    expect((await reach(h, 'table')).status).toBe(500);
  });

  it('fails the cold start of a function whose declared needs its grants do not cover, naming the function and the variable', async () => {
    const needsHealth = { entry: 'test/fixtures/host/needs-health.ts', description: 'needs health', timeoutSeconds: 1, memoryMb: 128, routes: [{ method: 'GET' as const, path: '/health-needed', auth: 'public' as const }] };
    const withFunction = (sendsTo: ('health' | 'targets')[]) => ({ ...fixtureManifest, functions: { ...fixtureManifest.functions, needsHealth: { ...needsHealth, sendsTo } } });
    await expect(start({ manifest: withFunction(['targets']) })).rejects.toThrow(
      'function needsHealth: cold start failed: environment variable HEALTH_QUEUE_URL is required but not set (the function sends to the health queue, which its sendsTo does not grant)',
    );
    const h = await start({ manifest: withFunction(['health']) });
    expect((await fetch(`${h.url}/health-needed`)).status).toBe(204);
  });

  it('refuses to serve a route that declares no auth rule', async () => {
    const unruled = { ...fixtureManifest.functions.slow, routes: [{ method: 'GET', path: '/unruled' }] } as unknown as FunctionSpec;
    await expect(start({ manifest: { ...fixtureManifest, functions: { ...fixtureManifest.functions, unruled } } })).rejects.toThrow(
      'route GET /unruled of function unruled declares no auth',
    );
  });
});

describe('the data dir', () => {
  it('keeps the table, the admin key and the webhook secret across a restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'embedded-host-'));
    try {
      const first = await start({ dataDir });
      const put = await fetch(`${first.url}/kv/greeting`, { method: 'PUT', body: 'hello' });
      expect(put.status).toBe(204);
      const { adminApiKey, webhookSecret } = first;
      await first.stop();
      expect((await stat(join(dataDir, 'admin-api-key'))).mode & 0o777).toBe(0o600);

      const second = await start({ dataDir });
      expect(second.adminApiKey).toBe(adminApiKey);
      expect(second.webhookSecret).toBe(webhookSecret);
      const got = await fetch(`${second.url}/kv/greeting`);
      expect(await got.json()).toEqual({ value: 'hello' });

      const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient({ ...clientConfig, endpoint: second.endpoints.dynamodb }));
      clients.push(dynamo);
      const { Item } = await dynamo.send(
        new GetCommand({ TableName: second.tableName, Key: keys.adminKey(sha256Hex(adminApiKey)) }),
      );
      expect(Item).toBeDefined();
    } finally {
      await host?.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('stop()', () => {
  it('lets a request in flight finish, then refuses connections; a second call is harmless', async () => {
    const h = await start();
    const inFlight = fetch(`${h.url}/slow`);
    await sleep(200);
    await h.stop();
    expect((await inFlight).status).toBe(502);
    await h.stop();
    await expect(fetch(`${h.url}/items/x`)).rejects.toThrow();
    expect(existsSync(':memory:')).toBe(false);
  });

  it('leaves nothing behind that keeps the process alive', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, '../fixtures/host/start-stop.ts')],
      { timeout: 15_000 },
    );
    expect(stdout.trim()).toBe('stopped');
  });
});
