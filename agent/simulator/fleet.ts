/**
 * A simulated fleet: devices that register through the admin API, poll their target state with
 * ETags, "pull" and "restart" when it changes, and report what they run, over real HTTP. Used by
 * the end-to-end tests and the demo; each device can be told to misbehave.
 */

import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AppState {
  name: string;
  image: string;
  /** The content the app runs, when the fleet pulls from a simulated registry. */
  digest?: string;
}

/**
 * What a registry serves under each tag: pushing a tag again gives it new content (a new
 * digest), as a real registry does. Devices that pull from it report the digest they run.
 */
export class SimulatedRegistry {
  private readonly tags = new Map<string, string>();
  private pushes = 0;

  /** Publishes new content under `repository:tag` and returns its digest. */
  push(image: string): string {
    const digest = `sha256:${createHash('sha256').update(`${image}#${++this.pushes}`).digest('hex')}`;
    this.tags.set(image, digest);
    return digest;
  }

  /** The digest a pull of `image` gets: the one it names, else what the tag points at now. */
  resolve(image: string): string {
    const at = image.indexOf('@');
    if (at !== -1) return image.slice(at + 1);
    return this.tags.get(image) ?? this.push(image);
  }
}

export interface DeviceBehaviour {
  /** Reports an error instead of running a new image. */
  failUpdate?: boolean;
  /** Never reports anything (an update timeout). */
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
}

export class SimulatedDevice {
  readonly uuid: string;
  readonly ipAddress: string;
  readonly initialApps: AppState[];
  private healthServer: Server | undefined;
  running: AppState[];
  etag: string | undefined;
  polls = 0;
  notModified = 0;
  reports = 0;
  behaviour: DeviceBehaviour;

  constructor(private readonly options: SimulatedDeviceOptions) {
    this.uuid = options.uuid;
    this.ipAddress = options.ipAddress;
    this.initialApps = options.apps.map((a) => ({ ...a }));
    this.running = options.apps.map((a) => this.pulled(a));
    this.behaviour = options.behaviour ?? {};
  }

  /** The app as a pull of its image gives it: with the digest, when there is a registry. */
  private pulled(app: AppState): AppState {
    const registry = this.options.registry;
    return registry ? { name: app.name, image: app.image, digest: registry.resolve(app.image) } : { name: app.name, image: app.image };
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.options.token}`, ...extra };
  }

  /** One poll: fetch the target state and, when it changed, apply it and report. */
  async poll(): Promise<void> {
    this.polls++;
    const response = await fetch(`${this.options.apiUrl}/api/v1/devices/${this.uuid}/state`, {
      headers: this.headers(this.etag ? { 'if-none-match': this.etag } : {}),
    });
    if (response.status === 304) {
      this.notModified++;
      return;
    }
    if (response.status !== 200) throw new Error(`device ${this.uuid}: state poll answered ${response.status}: ${await response.text()}`);
    const target = (await response.json()) as { apps: AppState[] };
    this.etag = response.headers.get('etag') ?? undefined;
    // A new target state means a pull of every app: a tag pushed again brings new content under the same name.
    const wanted = target.apps.map((app) => this.pulled(app));
    const changed = wanted.filter((app) => {
      const running = this.running.find((r) => r.name === app.name);
      return running?.image !== app.image || running.digest !== app.digest;
    });
    if (this.behaviour.silent) return;
    // Every new target state is acknowledged with what runs, even when the pull brought nothing new.
    if (changed.length === 0) {
      await this.report(this.running.map((app) => ({ ...app, status: 'running' })));
      return;
    }
    if (this.behaviour.updateDelayMs) await new Promise((r) => setTimeout(r, this.behaviour.updateDelayMs));
    if (this.behaviour.failUpdate) {
      await this.report(
        wanted.map((app) => ({ ...app, status: changed.includes(app) ? 'error' : 'running' })),
        `failed to start ${changed.map((a) => a.image).join(', ')}`,
      );
      return;
    }
    this.running = wanted;
    await this.report(this.running.map((app) => ({ ...app, status: 'running' })));
  }

  /** The target version the device acted on last: its ETag, `"7"` → 7. */
  private get appliedVersion(): number | undefined {
    const version = Number(this.etag?.replace(/^W\//, '').replaceAll('"', ''));
    return Number.isInteger(version) && version > 0 ? version : undefined;
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

  async report(apps: (AppState & { status: string })[], error?: string): Promise<void> {
    this.reports++;
    const response = await fetch(`${this.options.apiUrl}/api/v1/devices/${this.uuid}/state`, {
      method: 'PATCH',
      headers: this.headers({ 'content-type': 'application/json' }),
      body: JSON.stringify({ apps, ip_address: this.options.ipAddress, ...(this.appliedVersion ? { target_version: this.appliedVersion } : {}), ...(error ? { error } : {}) }),
    });
    if (response.status !== 200) throw new Error(`device ${this.uuid}: report answered ${response.status}: ${await response.text()}`);
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
}

/** Registers `size` devices running `image` and returns them, ready to poll. */
export async function registerFleet(options: FleetOptions): Promise<SimulatedDevice[]> {
  const devices: SimulatedDevice[] = [];
  const appName = options.appName ?? 'main';
  for (let i = 0; i < options.size; i++) {
    // Each device gets its own loopback address, so health checks can reach it individually.
    const ipAddress = `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
    const response = await fetch(`${options.apiUrl}/api/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${options.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `${options.namePrefix ?? 'device'}-${i + 1}`, ip_address: ipAddress, apps: [{ name: appName, image: options.image }] }),
    });
    if (response.status !== 201) throw new Error(`registering device ${i + 1} answered ${response.status}: ${await response.text()}`);
    const { device, device_token } = (await response.json()) as { device: { uuid: string }; device_token: string };
    devices.push(
      new SimulatedDevice({
        apiUrl: options.apiUrl,
        uuid: device.uuid,
        token: device_token,
        apps: [{ name: appName, image: options.image }],
        ipAddress,
        behaviour: options.behaviour?.(i) ?? {},
        ...(options.registry ? { registry: options.registry } : {}),
      }),
    );
  }
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
