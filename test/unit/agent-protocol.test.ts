import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceClient, parseRetryAfter, ProtocolError } from '../../agent/protocol';

let close: (() => Promise<unknown>) | undefined;
afterEach(async () => close?.());

async function serve(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<string> {
  const s = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c)).on('end', () => handler(req, res, body));
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  close = () => new Promise((r) => s.close(r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

describe('the device protocol client', () => {
  it('polls with If-None-Match and reads the 304 poll-interval hint', async () => {
    const url = await serve((req, res) => {
      expect(req.headers.authorization).toBe('Bearer tok');
      if (req.headers['if-none-match'] === '"3"') return res.writeHead(304, { 'x-poll-interval-seconds': '45' }).end();
      res.writeHead(200, { etag: '"3"', 'content-type': 'application/json' }).end(
        JSON.stringify({ uuid: 'd1', version: 3, poll_interval_seconds: 20, apps: [{ name: 'main', image: 'acme/app:2', container: { network_mode: 'host' } }] }),
      );
    });
    const client = new DeviceClient({ apiUrl: url, uuid: 'd1', token: 'tok' });
    const first = await client.poll();
    expect(first).toEqual({
      changed: true,
      etag: '"3"',
      pollIntervalSeconds: 20,
      target: { uuid: 'd1', version: 3, poll_interval_seconds: 20, apps: [{ name: 'main', image: 'acme/app:2', container: { network_mode: 'host' } }] },
    });
    expect(await client.poll('"3"')).toEqual({ changed: false, pollIntervalSeconds: 45 });
  });

  it('carries the status and Retry-After of a refusal', async () => {
    const url = await serve((_req, res) => res.writeHead(429, { 'retry-after': '7' }).end('slow down'));
    const error = await new DeviceClient({ apiUrl: url, uuid: 'd1', token: 'tok' }).poll().catch((e) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ status: 429, retryAfterMs: 7000 });
    expect(error.message).toMatch(/429: slow down/);
  });

  it('reports with PATCH and times out a server that never answers', async () => {
    const bodies: unknown[] = [];
    const url = await serve((req, res, body) => {
      if (req.method === 'PATCH') {
        bodies.push(JSON.parse(body));
        return res.writeHead(200).end('{}');
      }
      // never answers a poll
    });
    const client = new DeviceClient({ apiUrl: url, uuid: 'd1', token: 'tok', timeoutMs: 200 });
    await client.report({ apps: [{ name: 'main', image: 'acme/app:2', status: 'running', digest: 'sha256:' + 'a'.repeat(64) }], target_version: 3 });
    expect(bodies).toEqual([{ apps: [{ name: 'main', image: 'acme/app:2', status: 'running', digest: 'sha256:' + 'a'.repeat(64) }], target_version: 3 }]);
    await expect(client.poll()).rejects.toThrow(/no answer within 200 ms/);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('12')).toBe(12_000);
    expect(parseRetryAfter(new Date(10_000 + 5_000).toUTCString(), 10_000)).toBe(5_000);
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});
