/**
 * The device side of the device protocol, over HTTP: poll the target state with If-None-Match,
 * report the current state, and provision with a provisioning key. Every call has a timeout, and
 * a refusal is a `ProtocolError` carrying the status and the server's `Retry-After`.
 */
import type { ContainerSettings } from './engine';

export interface TargetApp {
  name: string;
  image: string;
  container?: ContainerSettings;
}

export interface TargetState {
  uuid: string;
  apps: TargetApp[];
  version: number;
  poll_interval_seconds?: number;
}

export interface ReportedApp {
  name: string;
  image: string;
  status: string;
  digest?: string;
}

export interface StateReport {
  apps: ReportedApp[];
  target_version?: number;
  ip_address?: string;
  error?: string | null;
  /** Labels the agent is configured with; the server sets these keys and keeps the device's others. */
  labels?: Record<string, string>;
}

export type PollResult =
  | { changed: true; target: TargetState; etag: string | undefined; pollIntervalSeconds: number | undefined }
  | { changed: false; pollIntervalSeconds: number | undefined };

export class ProtocolError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    /** How long the server asked us to wait, from `Retry-After`. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** `Retry-After`: seconds, or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function positiveSeconds(value: unknown): number | undefined {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined;
}

function parseContainer(value: unknown, where: string): ContainerSettings | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw new ProtocolError(`${where}.container is not an object`, 200);
  return value as ContainerSettings;
}

/** Checks the shape of a target state body; anything the agent does not read is ignored. */
export function parseTargetState(body: unknown): TargetState {
  const b = body as Partial<TargetState> | null;
  if (!b || typeof b !== 'object') throw new ProtocolError('target state is not a JSON object', 200);
  if (!Array.isArray(b.apps)) throw new ProtocolError('target state has no apps array', 200);
  if (!Number.isInteger(b.version) || (b.version as number) < 1) throw new ProtocolError('target state has no version', 200);
  const apps = b.apps.map((app: unknown, i) => {
    const a = app as Partial<TargetApp> | null;
    if (!a || typeof a.name !== 'string' || typeof a.image !== 'string') throw new ProtocolError(`target state apps[${i}] needs a name and an image`, 200);
    const container = parseContainer(a.container, `apps[${i}]`);
    return { name: a.name, image: a.image, ...(container ? { container } : {}) };
  });
  const hint = positiveSeconds(b.poll_interval_seconds);
  return { uuid: String(b.uuid ?? ''), apps, version: b.version as number, ...(hint ? { poll_interval_seconds: hint } : {}) };
}

async function request(url: string, init: RequestInit, timeoutMs: number, what: string): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    const cause = error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : String((error as { cause?: unknown }).cause ?? error);
    throw new ProtocolError(`${what}: ${cause}`, undefined);
  }
  if (response.status >= 400) {
    const text = (await response.text().catch(() => '')).slice(0, 500);
    throw new ProtocolError(`${what} answered ${response.status}: ${text}`, response.status, parseRetryAfter(response.headers.get('retry-after')));
  }
  return response;
}

export interface DeviceClientOptions {
  apiUrl: string;
  uuid: string;
  token: string;
  timeoutMs?: number;
}

export class DeviceClient {
  readonly uuid: string;
  private readonly url: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: DeviceClientOptions) {
    this.uuid = options.uuid;
    this.url = `${options.apiUrl.replace(/\/+$/, '')}/api/v1/devices/${encodeURIComponent(options.uuid)}/state`;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  async poll(etag?: string): Promise<PollResult> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.options.token}` };
    if (etag) headers['if-none-match'] = etag;
    const response = await request(this.url, { headers }, this.timeoutMs, `device ${this.uuid}: state poll`);
    if (response.status === 304) {
      await response.body?.cancel();
      return { changed: false, pollIntervalSeconds: positiveSeconds(response.headers.get('x-poll-interval-seconds')) };
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ProtocolError(`device ${this.uuid}: target state is not JSON`, response.status);
    }
    const target = parseTargetState(body);
    const hint = target.poll_interval_seconds ?? positiveSeconds(response.headers.get('x-poll-interval-seconds'));
    return { changed: true, target, etag: response.headers.get('etag') ?? undefined, pollIntervalSeconds: hint };
  }

  async report(report: StateReport): Promise<void> {
    const response = await request(
      this.url,
      { method: 'PATCH', headers: { authorization: `Bearer ${this.options.token}`, 'content-type': 'application/json' }, body: JSON.stringify(report) },
      this.timeoutMs,
      `device ${this.uuid}: report`,
    );
    await response.body?.cancel();
  }
}

export interface Provisioned {
  uuid: string;
  token: string;
}

/** Registers this device with a provisioning key: 201 `{device:{uuid}, device_token}`. */
export async function provision(
  apiUrl: string,
  key: string,
  device: { name: string; uuid: string; apps?: { name: string; image: string }[]; labels?: Record<string, string> },
  timeoutMs = 30_000,
): Promise<Provisioned> {
  const response = await request(
    `${apiUrl.replace(/\/+$/, '')}/api/v1/devices/provision`,
    { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(device) },
    timeoutMs,
    `provisioning ${device.name}`,
  );
  const body = (await response.json().catch(() => undefined)) as { device?: { uuid?: string }; device_token?: string } | undefined;
  if (!body?.device_token || !body.device?.uuid) throw new ProtocolError(`provisioning ${device.name}: answer has no device uuid and device_token`, response.status);
  return { uuid: body.device.uuid, token: body.device_token };
}
