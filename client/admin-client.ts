/**
 * The admin API over HTTP, as any client calls it: the operator's CLI and the demo both go through
 * this. Answers that are not the expected status become an `ApiError` carrying the API's own error.
 */

// What the API answers, as far as the CLI and the demo read it.

export const deviceStatuses = ['pending', 'scheduled', 'updated', 'healthy', 'unhealthy', 'failed', 'rolled_back', 'skipped'] as const;
export type DeviceStatus = (typeof deviceStatuses)[number];
export type StatusCounts = Record<DeviceStatus, number>;

export interface BatchView {
  number: number;
  /** Devices planned into it; `joined_devices` more joined it later. */
  size: number;
  joined_devices?: number;
  percentage: number;
  status: 'pending' | 'in_progress' | 'completed';
  counts: StatusCounts;
}

/** Every device of a batch: those planned into it and those that joined it later. */
export const devicesOf = (batch: Pick<BatchView, 'size' | 'joined_devices'>) => batch.size + (batch.joined_devices ?? 0);

export interface RolloutView {
  id: string;
  image: string;
  status: string;
  status_reason?: string;
  batches: BatchView[];
  current_batch: number;
  total_devices: number;
  planned: boolean;
  next_batch_due_at?: string;
  /** The next batch waits for a maintenance window, which opens then. */
  next_window_at?: string;
  /** When an admin scheduled the rollout to start. */
  start_at?: string;
  promotion?: { reason: string; full: boolean; at: string; by?: string };
  approvals?: { key_id: string; name: string; at: string; comment?: string; after_batch: number }[];
  approval_deadline_at?: string;
  /** Paused after this batch until approved. */
  awaiting_approval?: { after_batch: number };
  created_at: string;
  completed_at?: string;
  updated_at: string;
  policy: { health_check_enabled: boolean; auto_rollback_enabled: boolean; max_failure_rate: number };
}

export interface Statistics extends StatusCounts {
  total_devices: number;
  progress_percent: number;
  failure_rate: number;
}

export interface RolloutEventView {
  id: string;
  type: string;
  device_uuid?: string;
  timestamp: string;
  details: Record<string, unknown>;
}

export interface RolloutDetail {
  rollout: RolloutView;
  statistics: Statistics;
  events: RolloutEventView[];
}

export const endedStatuses = ['completed', 'paused', 'cancelled', 'rolled_back', 'failed'];

export interface PolicyView {
  update_strategy: string;
  batch_percentages: number[];
  batch_delay_minutes: number;
  health_check_enabled: boolean;
  health_check_config: { type: string } | null;
  auto_rollback_enabled: boolean;
  max_failure_rate: number;
}

/** The API's error body: `{"error":{"code","message","details"?}}`. */
export interface ApiErrorBody {
  code: string;
  message: string;
  details?: unknown;
}

/** The API answered, but not with the expected status. */
export class ApiError extends Error {
  override name = 'ApiError';

  constructor(
    message: string,
    readonly status: number,
    /** The API's error, when the answer carried one. */
    readonly error?: ApiErrorBody,
  ) {
    super(message);
  }
}

function errorOf(text: string): ApiErrorBody | undefined {
  try {
    const body: unknown = JSON.parse(text);
    const error = (body as { error?: Partial<ApiErrorBody> } | null)?.error;
    if (typeof error?.code === 'string' && typeof error.message === 'string') return error as ApiErrorBody;
  } catch {
    // not JSON: an answer from something in front of the API
  }
  return undefined;
}

/**
 * Whether `error` is fetch failing to reach the server at all (connection refused, unknown host,
 * reset…) rather than the server answering; then the message of the network error under it.
 */
export function unreachableCause(error: unknown): string | undefined {
  if (!(error instanceof TypeError) || error.message !== 'fetch failed') return undefined;
  const cause: unknown = error.cause;
  return cause instanceof Error ? cause.message : 'network error';
}

/** An app of a device: what it should run (target) or reports running (current). */
export interface DeviceApp {
  name: string;
  image: string;
  status?: string;
}

export interface DeviceView {
  uuid: string;
  name: string;
  ip_address: string | null;
  target_apps: DeviceApp[];
  target_version: number;
  current_apps: DeviceApp[];
  current_error: string | null;
  reported_at: string | null;
  created_at: string;
  provisioned_by: string | null;
  /** Set by admins and reported by the device's agent. */
  labels: Record<string, string>;
  /** `offline` (no report for 30 minutes, or none yet), `error`, `updating` (a rollout waits on it) or `online`. */
  status: 'online' | 'offline' | 'updating' | 'error';
  /** By app name, the rollout that is moving it. */
  active_rollouts: Record<string, { rollout_id: string; batch: number; image: string }>;
}

/** A named admin key as the API lists it (never the key itself). */
export interface AdminKeyView {
  id: string;
  name: string;
  created_at: string;
  created_by: { key_id: string; name: string };
  revoked_at: string | null;
  revoked_by: { key_id: string; name: string } | null;
}

/** A registry as the API shows it (never its secret). */
export interface RegistryView {
  name: string;
  kind: string;
  source: 'configured' | 'default';
  /** Null for kinds that send no webhooks (ECR). */
  webhook_url: string | null;
  host: string | null;
  host_aliases: Record<string, string>;
  rate_limit_per_minute: number;
  secret_kept_as: 'sha256' | 'secrets_manager' | 'global' | null;
  secret_rotated_at: string | null;
  /** docker-hub and quay: where digests are looked up, when not where the kind implies. */
  api_url: string | null;
  /** Who the digest look-up signs in as; the password is never shown. */
  pull_credentials: { username: string } | null;
  created_at: string | null;
  updated_at: string | null;
  created_by: { key_id: string; name: string } | null;
}

export interface RolloutDeviceRow {
  device_uuid: string;
  status: DeviceStatus;
  batch: number;
}

/** One page of a list, and the cursor of the next one (null after the last). */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export function adminClient(baseUrl: string, adminKey: string) {
  async function call<T>(method: string, path: string, options: { body?: unknown; expect?: number | number[]; auth?: boolean } = {}): Promise<T> {
    const headers: Record<string, string> = {};
    if (options.auth !== false) headers.authorization = `Bearer ${adminKey}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
    const text = await response.text();
    const expected = [options.expect ?? 200].flat();
    if (!expected.includes(response.status)) {
      // The path without its query: the webhook's query carries the secret.
      throw new ApiError(`${method} ${path.split('?')[0]} answered ${response.status}: ${text.slice(0, 500)}`, response.status, errorOf(text));
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * Follows `next_cursor` from `cursor` (or the first page) until the list ends or `max` items
   * are read; the cursor returned continues where it stopped.
   */
  async function list<T>(path: string, key: string, options: { max?: number; cursor?: string; pageSize?: number } = {}): Promise<Page<T>> {
    const items: T[] = [];
    const max = options.max ?? Number.POSITIVE_INFINITY;
    const pageSize = options.pageSize ?? 200;
    let cursor: string | null = options.cursor ?? null;
    do {
      const query = new URLSearchParams({ limit: String(Math.min(pageSize, max - items.length)) });
      if (cursor) query.set('cursor', cursor);
      const separator = path.includes('?') ? '&' : '?';
      const page: Record<string, unknown> = await call('GET', `${path}${separator}${query}`);
      items.push(...(page[key] as T[]));
      cursor = (page.next_cursor as string | null | undefined) ?? null;
    } while (cursor && items.length < max);
    return { items, next_cursor: cursor };
  }

  const all = async <T>(path: string, key: string, pageSize: number) => (await list<T>(path, key, { pageSize })).items;

  return {
    call,
    list,
    rollout: (id: string) => call<RolloutDetail>('GET', `/api/v1/rollouts/${encodeURIComponent(id)}`),
    events: (id: string) => all<RolloutEventView>(`/api/v1/rollouts/${encodeURIComponent(id)}/events`, 'events', 500),

    /** The rollout's devices in batch order, each with its batch and status. */
    async rolloutDevices(id: string): Promise<RolloutDeviceRow[]> {
      const groups = await all<{ number: number; devices: RolloutDeviceRow[] }>(`/api/v1/rollouts/${encodeURIComponent(id)}/devices`, 'batches', 500);
      return groups.flatMap((group) => group.devices.map((d) => ({ ...d, batch: group.number }))).sort((a, b) => a.batch - b.batch);
    },

    /** Each device's target image for one app, by uuid. */
    async targetImages(app: string): Promise<Map<string, string | undefined>> {
      const devices = await all<{ uuid: string; target_apps: { name: string; image: string }[] }>('/api/v1/devices', 'devices', 200);
      return new Map(devices.map((d) => [d.uuid, d.target_apps.find((a) => a.name === app)?.image]));
    },
  };
}

export type AdminClient = ReturnType<typeof adminClient>;

/**
 * The rollout's events as a watcher has seen them. The rollout's detail carries only its newest
 * events; when all of those are new, more may have happened since the last look, so the whole
 * log is read once.
 */
const endings = new Set(['completed', 'paused', 'cancelled', 'rolled_back', 'failed'].map((status) => `image.rollout_${status}`));

export class EventLog {
  private readonly byId = new Map<string, RolloutEventView>();

  constructor(private readonly readAll: () => Promise<RolloutEventView[]>) {}

  async absorb(newest: RolloutEventView[]): Promise<void> {
    const unseen = newest.filter((e) => !this.byId.has(e.id));
    const events = unseen.length > 0 && unseen.length === newest.length ? await this.readAll() : unseen;
    for (const event of events) this.byId.set(event.id, event);
  }

  /** Oldest first, in `eventOrder`. */
  list(filter: (event: RolloutEventView) => boolean = () => true): RolloutEventView[] {
    return [...this.byId.values()].filter(filter).sort(eventOrder);
  }
}

/** Oldest first; of facts recorded at the same time, the one that ends the rollout comes last. */
export function eventOrder(a: RolloutEventView, b: RolloutEventView): number {
  const last = (e: RolloutEventView) => (endings.has(e.type) ? 1 : 0);
  return a.timestamp.localeCompare(b.timestamp) || last(a) - last(b) || a.id.localeCompare(b.id);
}

/** The time a view of the rollout is drawn at: now while it runs, the moment it ended after. */
export function viewTime(rollout: Pick<RolloutView, 'status' | 'completed_at' | 'updated_at'>, now: number): number {
  if (!endedStatuses.includes(rollout.status)) return now;
  return Date.parse(rollout.completed_at ?? rollout.updated_at);
}
