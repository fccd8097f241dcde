/**
 * The bench's simulated devices, in a process of their own (forked by rollout-cost.ts). They
 * stand for other machines: in the host's process they would take turns with it on its one event
 * loop, and the host's CPU time and memory could not be told from theirs.
 *
 * It says `ready` over the IPC channel, then answers each request (`FleetRequest`, with an id)
 * with one reply of the same id: the result, or the error, and the process's peak RSS so far.
 * Fleets are named, so the bench can keep the hot path's probe, the rollout's fleet and the due
 * times' fleet apart. Nothing here holds a connection per device: registrations and the first
 * polls run 16 at a time, and polling at most `maxPollsInFlight` at once.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { registerFleet, startHealthServers, type SimulatedDevice } from '../../agent/simulator/fleet';
import { region } from '../../infra/embedded/aws-identity';
import { keys } from '../../lib/store/keys';
import { clients, type ClientRun } from './load';

export type FleetRequest =
  | { type: 'register'; fleet: string; apiUrl: string; adminKey: string; size: number; image: string; namePrefix: string }
  /** One poll by every device of the fleet, 16 at a time. */
  | { type: 'poll-once'; fleet: string }
  | { type: 'start-health'; fleet: string }
  | { type: 'stop-health'; fleet: string }
  /** Every device polls every `intervalMs`, their first polls spread evenly over one interval. */
  | { type: 'start-polling'; fleet: string; intervalMs: number }
  | { type: 'stop-polling'; fleet: string }
  | { type: 'counts'; fleet: string }
  /** `concurrency` clients polling the fleet's first device for `seconds`, as fast as answered. */
  | { type: 'poll-clients'; fleet: string; seconds: number; concurrency: number }
  /** The same, each a raw GetItem of that device's item, as the poll handler reads it. */
  | { type: 'get-item-clients'; fleet: string; seconds: number; concurrency: number; endpoint: string; tableName: string }
  /** The same, each a GET of `url` with `If-None-Match: etag`, which must be answered 304. */
  | { type: 'not-modified-clients'; url: string; etag: string; seconds: number; concurrency: number }
  | { type: 'stop' };

export interface FleetCounts {
  devices: number;
  polls: number;
  /** Polls by the poll hint they were answered with (seconds; 0 for none). */
  hints: [number, number][];
  reports: number;
  /** Polls that failed (a poll is retried at the next interval). */
  errors: number;
  lastError?: string;
}


export interface FleetResults {
  register: { devices: number; seconds: number };
  'poll-once': FleetCounts;
  'start-health': { port: number };
  'stop-health': null;
  'start-polling': null;
  'stop-polling': FleetCounts;
  counts: FleetCounts;
  'poll-clients': ClientRun;
  'get-item-clients': ClientRun;
  'not-modified-clients': ClientRun;
  stop: null;
}

export type FleetMessage =
  | { type: 'ready' }
  | { type: 'reply'; id: number; maxRssKiB: number; result?: unknown; error?: string };

/** Polls waiting beyond this wait their turn: a 10,000-device fleet must not open 10,000 connections. */
const maxPollsInFlight = 64;
const setupConcurrency = 16;

if (!process.send) {
  process.stderr.write('fleet-process is forked by the bench, with an IPC channel\n');
  process.exit(2);
}
const send = (message: FleetMessage, then: () => void = () => undefined) => process.send?.(message, then);

/** Runs at most `max` tasks at once; the rest wait in order. */
class Limiter {
  private active = 0;
  private waiting: (() => void)[] = [];
  private head = 0;

  constructor(private readonly max: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active < this.max) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private release(): void {
    if (this.head < this.waiting.length) {
      // The slot passes straight to the next in line; `active` stays as it is.
      const next = this.waiting[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.waiting.length) {
        this.waiting = this.waiting.slice(this.head);
        this.head = 0;
      }
      next();
    } else {
      this.active--;
    }
  }
}

interface Fleet {
  devices: SimulatedDevice[];
  health?: { stop: () => Promise<void> };
  stopPolling?: () => Promise<void>;
  errors: number;
  lastError?: string;
}

const fleets = new Map<string, Fleet>();
const pollLimiter = new Limiter(maxPollsInFlight);

function fleetNamed(name: string): Fleet {
  const fleet = fleets.get(name);
  if (!fleet) throw new Error(`no fleet named ${name}`);
  return fleet;
}

function countsOf(fleet: Fleet): FleetCounts {
  const hints = new Map<number, number>();
  let polls = 0;
  let reports = 0;
  for (const device of fleet.devices) {
    polls += device.polls;
    reports += device.reports;
    for (const [hint, n] of device.hints) hints.set(hint, (hints.get(hint) ?? 0) + n);
  }
  return { devices: fleet.devices.length, polls, hints: [...hints], reports, errors: fleet.errors, ...(fleet.lastError ? { lastError: fleet.lastError } : {}) };
}

async function pollOnce(fleet: Fleet, device: SimulatedDevice): Promise<void> {
  try {
    await device.poll();
  } catch (error) {
    fleet.errors++;
    fleet.lastError = error instanceof Error ? error.message : String(error);
  }
}

/** Like agent/simulator/fleet.ts `startPolling`, but its waits can be cut short and its polls are limited in number. */
function startPolling(fleet: Fleet, intervalMs: number): () => Promise<void> {
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<void>>();
  const pollLater = (device: SimulatedDevice, delayMs: number) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      const poll = pollLimiter
        .run(async () => {
          if (!stopped) await pollOnce(fleet, device);
        })
        .then(() => {
          if (!stopped) pollLater(device, intervalMs);
        });
      running.add(poll);
      void poll.finally(() => running.delete(poll));
    }, delayMs);
    timers.add(timer);
  };
  fleet.devices.forEach((device, i) => pollLater(device, (i * intervalMs) / fleet.devices.length));
  return async () => {
    stopped = true;
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    await Promise.all([...running]);
  };
}


async function handle(request: FleetRequest): Promise<unknown> {
  switch (request.type) {
    case 'register': {
      const started = performance.now();
      const devices = await registerFleet({ apiUrl: request.apiUrl, adminKey: request.adminKey, size: request.size, image: request.image, namePrefix: request.namePrefix, concurrency: setupConcurrency });
      fleets.set(request.fleet, { devices, errors: 0 });
      return { devices: devices.length, seconds: (performance.now() - started) / 1000 };
    }
    case 'poll-once': {
      const fleet = fleetNamed(request.fleet);
      const limiter = new Limiter(setupConcurrency);
      await Promise.all(fleet.devices.map((device) => limiter.run(() => pollOnce(fleet, device))));
      return countsOf(fleet);
    }
    case 'start-health': {
      const fleet = fleetNamed(request.fleet);
      const health = await startHealthServers(fleet.devices);
      fleet.health = health;
      return { port: health.port };
    }
    case 'stop-health': {
      const fleet = fleetNamed(request.fleet);
      await fleet.health?.stop();
      delete fleet.health;
      return null;
    }
    case 'start-polling': {
      const fleet = fleetNamed(request.fleet);
      if (fleet.stopPolling) throw new Error(`fleet ${request.fleet} is polling already`);
      fleet.stopPolling = startPolling(fleet, request.intervalMs);
      return null;
    }
    case 'stop-polling': {
      const fleet = fleetNamed(request.fleet);
      await fleet.stopPolling?.();
      delete fleet.stopPolling;
      return countsOf(fleet);
    }
    case 'counts':
      return countsOf(fleetNamed(request.fleet));
    case 'poll-clients': {
      const probe = fleetNamed(request.fleet).devices[0]!;
      return clients(request.seconds, request.concurrency, () => probe.poll());
    }
    case 'get-item-clients': {
      const probe = fleetNamed(request.fleet).devices[0]!;
      // A client of its own, not the handlers'; the read the poll handler makes (lib/store/devices.ts
      // getStoredDevice as lib/http/auth.ts calls it): the device's key, eventually consistent.
      const client = DynamoDBDocumentClient.from(
        new DynamoDBClient({ endpoint: request.endpoint, region, credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } }),
      );
      const get = () => client.send(new GetCommand({ TableName: request.tableName, Key: keys.device(probe.uuid), ConsistentRead: false }));
      try {
        if (!(await get()).Item) throw new Error(`the device item of ${probe.uuid} is not in ${request.tableName}`);
        return await clients(request.seconds, request.concurrency, get);
      } finally {
        client.destroy();
      }
    }
    case 'not-modified-clients': {
      const get = async () => {
        const response = await fetch(request.url, { headers: { 'if-none-match': request.etag } });
        await response.body?.cancel();
        if (response.status !== 304) throw new Error(`${request.url} answered ${response.status}, not 304`);
      };
      await get();
      return clients(request.seconds, request.concurrency, get);
    }
    case 'stop': {
      for (const fleet of fleets.values()) {
        await fleet.stopPolling?.();
        await fleet.health?.stop();
      }
      return null;
    }
  }
}

process.on('message', (message: { id: number; request: FleetRequest }) => {
  void handle(message.request).then(
    (result) => {
      const reply: FleetMessage = { type: 'reply', id: message.id, maxRssKiB: process.resourceUsage().maxRSS, result };
      send(reply, message.request.type === 'stop' ? () => process.exit(0) : undefined);
    },
    (error: unknown) => send({ type: 'reply', id: message.id, maxRssKiB: process.resourceUsage().maxRSS, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
  );
});
// An orphan never outlives the bench.
process.on('disconnect', () => process.exit(1));

send({ type: 'ready' });
