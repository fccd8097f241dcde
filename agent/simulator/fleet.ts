/**
 * A simulated fleet: devices that register through the admin API and run the real device agent
 * (agent/agent.ts, over the agent's own protocol client) on an in-memory container engine. Used by
 * the end-to-end tests, the benchmark and the demo; each device can be told to misbehave.
 */

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from '../agent';
import { containerName, labels } from '../engine';
import { DeviceClient, type PollResult, type StateReport } from '../protocol';
import { SimulatedEngine, SimulatedRegistry } from '../simulated-engine';
import { MemoryStateStore } from '../state-store';

export { SimulatedRegistry };

export interface AppState {
  name: string;
  image: string;
  /** The content the app runs, when the fleet pulls from a simulated registry. */
  digest?: string;
}

export interface DeviceBehaviour {
  /** Fails to start any image other than the one it started with, and reports the error. */
  failUpdate?: boolean;
  /** Fails to start an image other than the one it started with this many times, then starts it. */
  failUpdates?: number;
  /** Polls but never reports anything (an update timeout). */
  silent?: boolean;
  /** Time to pull and restart, in milliseconds. */
  updateDelayMs?: number;
  /** Its health endpoint answers 503 while it runs any image but the one it started with. */
  unhealthyOnNewImage?: boolean;
}

export interface SimulatedDeviceOptions {
  apiUrl: string;
  uuid: string;
  token: string;
  apps: AppState[];
  ipAddress: string;
  behaviour?: DeviceBehaviour;
  registry?: SimulatedRegistry;
  /** What its agent reports as its labels (an agent's `FLEET_LABELS`). */
  labels?: Record<string, string>;
}

export class SimulatedDevice {
  readonly uuid: string;
  readonly ipAddress: string;
  readonly initialApps: AppState[];
  readonly engine: SimulatedEngine;
  readonly agent: Agent;
  private readonly client: DeviceClient;
  private healthServer: Server | undefined;
  /** The ETag a silent device polls with: it follows the target state but never acts on it. */
  private silentEtag: string | undefined;
  polls = 0;
  notModified = 0;
  /** Polls by the poll interval hint (seconds) the server answered them with; 0 for none. */
  readonly hints = new Map<number, number>();
  reports = 0;
  behaviour: DeviceBehaviour;
  /** Starts of a new image that failed (see `failUpdates`). */
  private failedStarts = 0;

  constructor(private readonly options: SimulatedDeviceOptions) {
    this.uuid = options.uuid;
    this.ipAddress = options.ipAddress;
    this.behaviour = options.behaviour ?? {};
    this.client = new DeviceClient({ apiUrl: options.apiUrl, uuid: options.uuid, token: options.token });
    const registry = options.registry;
    this.initialApps = options.apps.map((a) => ({ name: a.name, image: a.image, ...(registry ? { digest: registry.resolve(a.image) } : {}) }));
    const initial = new Set(this.initialApps.map((a) => a.digest ?? a.image));
    this.engine = new SimulatedEngine(registry, {
      startFailure: (spec) => {
        const content = spec.labels[labels.digest] ?? spec.labels[labels.image] ?? spec.image;
        if (initial.has(content)) return undefined;
        if (!this.behaviour.failUpdate && (this.behaviour.failUpdates ?? 0) <= this.failedStarts) return undefined;
        this.failedStarts++;
        return `failed to start ${spec.labels[labels.image] ?? spec.image}`;
      },
      startDelayMs: () => this.behaviour.updateDelayMs ?? 0,
    });
    for (const app of this.initialApps) {
      this.engine.seed({
        name: containerName(this.uuid, app.name),
        image: app.image,
        settings: {},
        labels: { [labels.app]: app.name, [labels.device]: this.uuid, [labels.image]: app.image, ...(app.digest ? { [labels.digest]: app.digest } : {}) },
      });
    }
    const counting = {
      poll: (etag?: string): Promise<PollResult> => this.client.poll(etag),
      report: async (report: StateReport) => {
        this.reports++;
        await this.client.report(report);
      },
    };
    this.agent = new Agent({
      uuid: this.uuid,
      client: counting,
      engine: this.engine,
      store: new MemoryStateStore(),
      ipAddress: this.ipAddress,
      settleMs: 0,
      ...(options.labels ? { labels: options.labels } : {}),
    });
  }

  /** What the device's containers run, in the order of its apps. */
  get running(): AppState[] {
    const order = this.initialApps.map((a) => a.name);
    return this.engine
      .snapshot()
      .filter((c) => c.labels[labels.device] === this.uuid)
      .map((c) => ({ name: c.labels[labels.app]!, image: c.labels[labels.image] ?? c.image, ...(c.labels[labels.digest] ? { digest: c.labels[labels.digest] } : {}) }))
      .sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  }

  /** The ETag of the target state the device acted on last. */
  get etag(): string | undefined {
    return this.agent.etag;
  }

  /** One round of the agent: poll the target state and, when it changed, apply it and report. */
  async poll(): Promise<void> {
    this.polls++;
    if (this.behaviour.silent) {
      const polled = await this.client.poll(this.silentEtag);
      this.countHint(polled.pollIntervalSeconds);
      if (polled.changed) this.silentEtag = polled.etag;
      else this.notModified++;
      return;
    }
    const step = await this.agent.step();
    this.countHint(step.pollIntervalSeconds);
    if (!step.applied) this.notModified++;
  }

  private countHint(seconds: number | undefined): void {
    this.hints.set(seconds ?? 0, (this.hints.get(seconds ?? 0) ?? 0) + 1);
  }

  get healthy(): boolean {
    const onInitialImage = this.running.every((app, i) => app.image === this.initialApps[i]?.image);
    return onInitialImage || !this.behaviour.unhealthyOnNewImage;
  }

  /** Serves `GET /health` on the device's own loopback address: 200 while healthy, 503 otherwise. */
  async startHealthServer(port: number): Promise<number> {
    const server = createServer((request, response) => {
      const ok = request.url === '/health' && this.healthy;
      response.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok' : 'unhealthy');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.ipAddress, () => resolve());
    });
    this.healthServer = server;
    return (server.address() as AddressInfo).port;
  }

  async stopHealthServer(): Promise<void> {
    const server = this.healthServer;
    this.healthServer = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Sends a report of the caller's choosing (tests forge odd ones), saying the target version the agent acted on. */
  async report(apps: (AppState & { status: string })[], error?: string, labels?: Record<string, string>): Promise<void> {
    this.reports++;
    const version = Number(this.agent.etag?.replace(/^W\//, '').replaceAll('"', ''));
    await this.client.report({
      apps,
      ip_address: this.ipAddress,
      ...(Number.isInteger(version) && version > 0 ? { target_version: version } : {}),
      ...(error ? { error } : {}),
      ...(labels ? { labels } : {}),
    });
  }
}

export interface FleetOptions {
  apiUrl: string;
  adminKey: string;
  size: number;
  image: string;
  appName?: string;
  namePrefix?: string;
  behaviour?: (index: number) => DeviceBehaviour;
  /** Devices pull from it and report digests; without one they report image names only. */
  registry?: SimulatedRegistry;
  /** Registrations in flight at once. Default 1; the devices come back in order whatever it is. */
  concurrency?: number;
  /** The labels each device is registered with. */
  labels?: (index: number) => Record<string, string> | undefined;
  /** The labels each device's agent reports (its `FLEET_LABELS`). */
  agentLabels?: (index: number) => Record<string, string> | undefined;
}

/** Registers `size` devices running `image` and returns them, ready to poll. */
export async function registerFleet(options: FleetOptions): Promise<SimulatedDevice[]> {
  const devices: SimulatedDevice[] = new Array(options.size);
  const appName = options.appName ?? 'main';
  let next = 0;
  const register = async (i: number) => {
    // Each device gets its own loopback address, so health checks can reach it individually.
    const ipAddress = `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
    const labels = options.labels?.(i);
    const agentLabels = options.agentLabels?.(i);
    const response = await fetch(`${options.apiUrl}/api/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${options.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `${options.namePrefix ?? 'device'}-${i + 1}`, ip_address: ipAddress, apps: [{ name: appName, image: options.image }], ...(labels ? { labels } : {}) }),
    });
    if (response.status !== 201) throw new Error(`registering device ${i + 1} answered ${response.status}: ${await response.text()}`);
    const { device, device_token } = (await response.json()) as { device: { uuid: string }; device_token: string };
    devices[i] = new SimulatedDevice({
      apiUrl: options.apiUrl,
      uuid: device.uuid,
      token: device_token,
      apps: [{ name: appName, image: options.image }],
      ipAddress,
      behaviour: options.behaviour?.(i) ?? {},
      ...(options.registry ? { registry: options.registry } : {}),
      ...(agentLabels ? { labels: agentLabels } : {}),
    });
  };
  const workers = Array.from({ length: Math.min(options.size, Math.max(1, options.concurrency ?? 1)) }, async () => {
    while (next < options.size) {
      try {
        await register(next++);
      } catch (error) {
        // The other workers take no further devices.
        next = options.size;
        throw error;
      }
    }
  });
  await Promise.all(workers);
  return devices;
}

/**
 * Starts every device's health endpoint, all on one port (each device has its own address), and
 * returns that port and a function that stops them.
 */
export async function startHealthServers(devices: SimulatedDevice[]): Promise<{ port: number; stop: () => Promise<void> }> {
  if (devices.length === 0) return { port: 0, stop: async () => {} };
  const port = await devices[0]!.startHealthServer(0);
  await Promise.all(devices.slice(1).map((d) => d.startHealthServer(port)));
  return { port, stop: async () => void (await Promise.all(devices.map((d) => d.stopHealthServer()))) };
}

/** Polls every device every `intervalMs` until stopped; a failed poll is retried on the next round. */
export function startPolling(devices: SimulatedDevice[], intervalMs: number, onError?: (error: unknown) => void): () => Promise<void> {
  let stopped = false;
  const loops = devices.map(async (device, i) => {
    await new Promise((r) => setTimeout(r, (i * intervalMs) / devices.length));
    while (!stopped) {
      try {
        await device.poll();
      } catch (error) {
        onError?.(error);
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  });
  return async () => {
    stopped = true;
    await Promise.all(loops);
  };
}
