/**
 * Health probes against real listeners on loopback. Each scenario has its own 127.0.0.x address,
 * so a listener's connection count says exactly whether the prober reached it.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HealthCheckConfig, ReportedApp } from '../../lib/domain/types';
import { addressPolicy, loopbackRanges, type AddressPolicy } from '../../lib/health/address-policy';
import { probeAll, probeHealth, type ProbeTarget } from '../../lib/health/probe';

interface Listener {
  port: number;
  /** TCP connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

const listeners: Listener[] = [];

async function listen(server: net.Server, host: string): Promise<Listener> {
  const sockets = new Set<net.Socket>();
  const listener: Listener = {
    port: 0,
    connections: 0,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  server.on('connection', (socket: net.Socket) => {
    listener.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  listener.port = (server.address() as AddressInfo).port;
  listeners.push(listener);
  return listener;
}

function httpServer(host: string, handle: http.RequestListener): Promise<Listener> {
  return listen(http.createServer(handle), host);
}

/** A port on `host` with nothing listening. */
async function closedPort(host: string): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const loopback = addressPolicy([...loopbackRanges]);
const tenOnly = addressPolicy(['10.0.0.0/8']);
const fast = { policy: loopback, retryDelayMs: 20 };

function target(overrides: Partial<ProbeTarget['device']> = {}, app = 'web', expectedImage = 'acme/web:2.0'): ProbeTarget {
  return { device: { uuid: 'dev-uuid', name: 'pi-01', ip_address: '127.0.0.2', current_apps: [], ...overrides }, app, expectedImage };
}

let main: Listener;
let mainV6: Listener | undefined;

beforeAll(async () => {
  main = await httpServer('127.0.0.2', (req, res) => {
    const path = req.url ?? '';
    if (path === '/unavailable') return res.writeHead(503).end('down');
    if (path === '/moved') return res.writeHead(302, { location: 'http://169.254.169.254/' }).end();
    if (path === '/large') {
      res.writeHead(200);
      res.write('x'.repeat(100 * 1024));
      return res.end('ok');
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`status: ok at ${path}`);
  });
  try {
    mainV6 = await httpServer('::1', (_req, res) => res.writeHead(200).end('ok'));
  } catch {
    mainV6 = undefined;
  }
});

afterAll(async () => {
  await Promise.all(listeners.map((l) => l.close()));
});

describe('http health check', () => {
  it('is healthy on the expected status, with {device_ip} and an encoded {device_name} filled in', async () => {
    const config: HealthCheckConfig = {
      type: 'http',
      endpoint: `http://{device_ip}:${main.port}/health/{device_name}`,
      expectedBody: '/health/pi%2001%2Fa',
    };
    const result = await probeHealth(config, target({ name: 'pi 01/a' }), fast);
    expect(result).toMatchObject({ healthy: true, attempts: 1 });
    expect(result.reason).toContain(`HTTP 200 from http://127.0.0.2:${main.port}/health/pi%2001%2Fa`);
  });

  it('brackets an IPv6 device ip in the URL', async (ctx) => {
    if (!mainV6) return ctx.skip();
    const config: HealthCheckConfig = { type: 'http', endpoint: `http://{device_ip}:${mainV6.port}/health` };
    const result = await probeHealth(config, target({ ip_address: '::1' }), fast);
    expect(result).toMatchObject({ healthy: true, attempts: 1 });
  });

  it('is unhealthy on another status, saying which, after its retries', async () => {
    const config: HealthCheckConfig = { type: 'http', endpoint: `http://{device_ip}:${main.port}/unavailable`, retries: 1 };
    const result = await probeHealth(config, target(), fast);
    expect(result).toMatchObject({
      healthy: false,
      attempts: 2,
      reason: `HTTP 503 from http://127.0.0.2:${main.port}/unavailable (expected 200)`,
    });
  });

  it('follows no redirect: a 3xx is just a status', async () => {
    const moved: HealthCheckConfig = { type: 'http', endpoint: `http://127.0.0.2:${main.port}/moved`, retries: 0 };
    expect((await probeHealth(moved, target(), fast)).reason).toMatch(/^HTTP 302 from .* \(expected 200\)$/);
    const expected302 = await probeHealth({ ...moved, expectedStatusCode: 302 }, target(), fast);
    expect(expected302.healthy).toBe(true);
  });

  it('checks the body when expectedBody is set', async () => {
    const endpoint = `http://127.0.0.2:${main.port}/health`;
    expect((await probeHealth({ type: 'http', endpoint, expectedBody: 'ok' }, target(), fast)).healthy).toBe(true);
    const mismatch = await probeHealth({ type: 'http', endpoint, expectedBody: 'ready', retries: 0 }, target(), fast);
    expect(mismatch).toMatchObject({ healthy: false, reason: 'body does not contain "ready"' });
  });

  it('reads at most 64 KiB of the body', async () => {
    const config: HealthCheckConfig = { type: 'http', endpoint: `http://127.0.0.2:${main.port}/large`, expectedBody: 'ok', retries: 0 };
    const result = await probeHealth(config, target(), fast);
    expect(result).toMatchObject({ healthy: false, reason: 'body does not contain "ok" in its first 64 KiB' });
  });

  it('gives up on a server that never answers after timeout × attempts', async () => {
    const silent = await listen(net.createServer(() => {}), '127.0.0.3');
    const config: HealthCheckConfig = { type: 'http', endpoint: `http://127.0.0.3:${silent.port}/health`, timeout: 0.3, retries: 1 };
    const started = performance.now();
    const result = await probeHealth(config, target(), fast);
    const elapsed = performance.now() - started;
    expect(result).toMatchObject({ healthy: false, attempts: 2, reason: 'timed out after 0.3 s' });
    expect(elapsed).toBeGreaterThanOrEqual(600);
    expect(elapsed).toBeLessThan(1500);
    expect(result.duration_ms).toBeGreaterThanOrEqual(600);
    expect(silent.connections).toBe(2);
  });

  it('bounds the body by the timeout too', async () => {
    const trickle = await httpServer('127.0.0.3', (_req, res) => {
      res.writeHead(200);
      res.write('starting');
    });
    const config: HealthCheckConfig = { type: 'http', endpoint: `http://127.0.0.3:${trickle.port}/`, expectedBody: 'ok', timeout: 0.3, retries: 0 };
    const result = await probeHealth(config, target(), fast);
    expect(result).toMatchObject({ healthy: false, reason: 'timed out after 0.3 s' });
    expect(result.duration_ms).toBeLessThan(1000);
  });

  it('retries: a flapping service is healthy on its second attempt', async () => {
    let requests = 0;
    const flapping = await httpServer('127.0.0.4', (_req, res) => {
      requests++;
      res.writeHead(requests === 1 ? 503 : 200).end('ok');
    });
    const config: HealthCheckConfig = { type: 'http', endpoint: `http://127.0.0.4:${flapping.port}/health`, retries: 2 };
    const result = await probeHealth(config, target(), fast);
    expect(result).toMatchObject({ healthy: true, attempts: 2 });
    expect(flapping.connections).toBe(2);
  });

  it('reports a refused connection, retrying it', async () => {
    const port = await closedPort('127.0.0.5');
    const result = await probeHealth({ type: 'http', endpoint: `http://127.0.0.5:${port}/health`, retries: 1 }, target(), fast);
    expect(result).toMatchObject({ healthy: false, attempts: 2 });
    expect(result.reason).toBe(`connection refused by 127.0.0.5:${port}`);
  });

  it('is unhealthy without trying when the device has no ip_address', async () => {
    const result = await probeHealth({ type: 'http', endpoint: `http://{device_ip}:${main.port}/health` }, target({ ip_address: null }), fast);
    expect(result).toMatchObject({ healthy: false, attempts: 1, reason: 'device has no ip_address' });
  });
});

describe('address policy on probes', () => {
  it('resolves a host name and connects only to an allowed address', async () => {
    const local = await httpServer('127.0.0.1', (_req, res) => res.writeHead(200).end('ok'));
    const config: HealthCheckConfig = { type: 'http', endpoint: `http://localhost:${local.port}/health`, retries: 2 };

    expect(await probeHealth(config, target(), fast)).toMatchObject({ healthy: true, attempts: 1 });
    expect(local.connections).toBe(1);

    const refused = await probeHealth(config, target(), { policy: tenOnly, retryDelayMs: 20 });
    expect(refused).toMatchObject({ healthy: false, attempts: 1 });
    expect(refused.reason).toMatch(/^host localhost resolves to .*127\.0\.0\.1.*, not allowed for health checks$/);
    expect(local.connections).toBe(1);
  });

  it('refuses an IP outside the allow list at once, without connecting', async () => {
    const outside = await httpServer('127.0.0.6', (_req, res) => res.writeHead(200).end('ok'));
    const started = performance.now();
    const result = await probeHealth(
      { type: 'http', endpoint: `http://{device_ip}:${outside.port}/health`, retries: 3 },
      target({ ip_address: '127.0.0.6' }),
      { policy: tenOnly, retryDelayMs: 1000 },
    );
    expect(result).toMatchObject({ healthy: false, attempts: 1, reason: 'address 127.0.0.6 is not allowed for health checks' });
    expect(performance.now() - started).toBeLessThan(200);
    expect(outside.connections).toBe(0);

    // Numeric host spellings are the same address.
    const decimal = await probeHealth({ type: 'http', endpoint: `http://2130706438:${outside.port}/` }, target(), { policy: tenOnly });
    expect(decimal.reason).toBe('address 127.0.0.6 is not allowed for health checks');
    expect(outside.connections).toBe(0);
  });

  it('never reaches the metadata service, even when everything is allowed', async () => {
    const everything = { policy: addressPolicy(['0.0.0.0/0', '::/0']), retryDelayMs: 1000 };
    const started = performance.now();
    const byIp = await probeHealth(
      { type: 'http', endpoint: 'http://{device_ip}/latest/meta-data/', retries: 3 },
      target({ ip_address: '169.254.169.254' }),
      everything,
    );
    expect(byIp).toMatchObject({ healthy: false, attempts: 1, reason: 'address 169.254.169.254 is not allowed for health checks' });

    const mapped = await probeHealth({ type: 'http', endpoint: 'http://[::ffff:169.254.169.254]/' }, target(), everything);
    expect(mapped.reason).toMatch(/^address ::ffff:a9fe:a9fe is not allowed for health checks$/);

    const v6 = await probeHealth({ type: 'tcp', host: '{device_ip}', port: 80 }, target({ ip_address: 'fd00:ec2::254' }), everything);
    expect(v6.reason).toBe('address fd00:ec2::254 is not allowed for health checks');
    expect(performance.now() - started).toBeLessThan(200);
  });
});

describe('tcp health check', () => {
  it('is healthy when the port accepts a connection', async () => {
    const broker = await listen(net.createServer(), '127.0.0.7');
    const result = await probeHealth({ type: 'tcp', host: '{device_ip}', port: broker.port }, target({ ip_address: '127.0.0.7' }), fast);
    expect(result).toMatchObject({ healthy: true, attempts: 1 });
    expect(broker.connections).toBe(1);
  });

  it('is unhealthy when nothing listens', async () => {
    const port = await closedPort('127.0.0.7');
    const result = await probeHealth({ type: 'tcp', host: '127.0.0.7', port, retries: 1 }, target(), fast);
    expect(result).toMatchObject({ healthy: false, attempts: 2, reason: `connection refused by 127.0.0.7:${port}` });
  });

  it('refuses an address outside the allow list, by literal or by name, without connecting', async () => {
    const broker = await listen(net.createServer(), '127.0.0.1');
    const literal = await probeHealth({ type: 'tcp', host: '127.0.0.1', port: broker.port }, target(), { policy: tenOnly });
    expect(literal).toMatchObject({ healthy: false, attempts: 1, reason: 'address 127.0.0.1 is not allowed for health checks' });
    const named = await probeHealth({ type: 'tcp', host: 'localhost', port: broker.port }, target(), { policy: tenOnly });
    expect(named).toMatchObject({ healthy: false, attempts: 1 });
    expect(named.reason).toMatch(/^host localhost resolves to .*not allowed/);
    expect(broker.connections).toBe(0);
  });
});

describe('container health check', () => {
  const config: HealthCheckConfig = { type: 'container', containerName: 'web' };
  const apps = (...list: ReportedApp[]) => ({ current_apps: list });

  it('is healthy when the container runs the expected image', async () => {
    const result = await probeHealth(config, target(apps({ name: 'web', image: 'acme/web:2.0', status: 'Running' })), fast);
    expect(result).toMatchObject({ healthy: true, attempts: 1, reason: 'container web is running acme/web:2.0' });
  });

  it('names what is wrong', async () => {
    const exited = await probeHealth(config, target(apps({ name: 'web', image: 'acme/web:2.0', status: 'exited' })), fast);
    expect(exited).toMatchObject({ healthy: false, attempts: 1, reason: 'container web status is exited' });

    const old = await probeHealth(config, target(apps({ name: 'web', image: 'acme/web:1.0', status: 'running' })), fast);
    expect(old).toMatchObject({ healthy: false, reason: 'container web runs image acme/web:1.0 instead of acme/web:2.0' });

    const missing = await probeHealth(config, target(apps({ name: 'db', image: 'postgres:16', status: 'running' })), fast);
    expect(missing).toMatchObject({ healthy: false, reason: 'container web is not reported by the device' });
  });

  it('checks only that another container named in the check is running', async () => {
    const sidecar: HealthCheckConfig = { type: 'container', containerName: 'mqtt' };
    const device = apps({ name: 'web', image: 'acme/web:2.0', status: 'running' }, { name: 'mqtt', image: 'eclipse-mosquitto:2', status: 'running' });
    expect((await probeHealth(sidecar, target(device), fast)).healthy).toBe(true);
  });
});

describe('probeAll', () => {
  it('keeps the order of targets and never runs more than `concurrency` probes at once', async () => {
    let inFlight = 0;
    let peak = 0;
    const fleet = await httpServer('127.0.0.8', async (req, res) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      const index = Number(req.url?.split('-').at(-1));
      // Later devices answer sooner, so completion order differs from target order.
      await sleep(20 + (9 - index) * 10);
      inFlight--;
      res.writeHead(index % 2 === 0 ? 200 : 500).end();
    });
    const targets = Array.from({ length: 9 }, (_, i) => target({ name: `dev-${i}`, ip_address: '127.0.0.8' }));
    const config: HealthCheckConfig = { type: 'http', endpoint: `http://{device_ip}:${fleet.port}/health/{device_name}`, retries: 0 };
    const results = await probeAll(config, targets, { policy: addressPolicy(['127.0.0.0/8']), concurrency: 3, retryDelayMs: 20 });

    expect(peak).toBe(3);
    expect(results.map((r) => r.healthy)).toEqual([true, false, true, false, true, false, true, false, true]);
    results.forEach((result, i) => expect(result.reason).toContain(`/health/dev-${i}`));
  });

  it('never rejects: a failing probe becomes an unhealthy result with the reason', async () => {
    const throwing: AddressPolicy = {
      allows() {
        throw new Error('policy exploded');
      },
    };
    const config: HealthCheckConfig = { type: 'http', endpoint: `http://127.0.0.2:${main.port}/health`, retries: 0 };
    const broken = { app: 'web', expectedImage: 'acme/web:2.0' } as unknown as ProbeTarget;
    const results = await probeAll(config, [target(), broken], { policy: throwing, concurrency: 2 });
    expect(results).toHaveLength(2);
    expect(results[0]).toMatchObject({ healthy: false, reason: 'health check failed: policy exploded' });
    expect(results[1]).toMatchObject({ healthy: false });
    expect(results[1]!.reason).toMatch(/^health check failed: /);

    const byName = await probeAll({ type: 'tcp', host: 'localhost', port: main.port, retries: 0 }, [target()], { policy: throwing, concurrency: 1 });
    expect(byName[0]).toMatchObject({ healthy: false, reason: 'policy exploded' });
  });
});
