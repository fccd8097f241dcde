/**
 * `npm run bench`: the project's scale benchmark. Figures, not assertions (machines here are
 * shared and noisy); `--json FILE` keeps them, and `npm run bench:compare` sets runs side by side.
 *
 * This process runs the embedded host and nothing else but the bench's own reads of it; the
 * simulated devices run in a child process (fleet-process.ts), as the other machines they are.
 * So the CPU time and peak RSS printed for the host are the host's; the fleet's peak RSS is its own.
 *
 * 1. The device hot path: `GET /state` answered 304, as most polls are, from `--concurrency`
 *    clients for `--poll-seconds`; then as many clients doing the raw GetItem that poll is built
 *    on (the same item, the same consistency) straight against dynalite. Requests per second and
 *    latency percentiles of both, what the poll costs against the raw read (in requests per second,
 *    and in the host's CPU time per request against the same read on the handlers' client), the
 *    same way in with no AWS call behind it (the OpenAPI document answered 304: what the emulated
 *    platform and the middleware cost a request), and the AWS requests, read units and Lambda
 *    time per poll.
 * 2. A staged rollout of `--devices` simulated devices (3 batches, no delay, HTTP health checks),
 *    the devices polling every `--device-poll-seconds` (the agent's default without a hint), their
 *    phases spread evenly. From the rollout's events: planning (push → rollout started), and for
 *    each batch one after the other scheduling (batch started → its last device scheduled),
 *    updates (→ its last device updated or failed), health checks (→ its last health check) and
 *    evaluation (its last device settled → batch completed), which is the batch-advance latency
 *    (p50, max). Per device, what the rollout itself costs: requests by service and operation,
 *    DynamoDB write and read units by operation, Lambda invocations and GB-seconds by function
 *    (and every function's timeouts and errors, 0 or not), the host's CPU time, and the price of
 *    one device update at list prices (and of a device-month of polling). The host's peak RSS and
 *    the fleet's, and the load average at the start and the end (a busy machine shows there).
 * 3. The poll hint: which hints the devices were given before and during that rollout, and the
 *    polls per device-hour a fleet following them makes, against an agent without a hint (its
 *    default of 30 s) and one polling at the short interval all the time to be as quick.
 * 4. Due times: a rollout of several batches with a short batch delay, and how late each next
 *    batch started after its due time (the batch's `next_batch_due_at` → the next batch's
 *    `started_at`), p50 and max. The host runs the production tick of 30 s, so what these figures
 *    show is the wake-up at the due time, not the tick.
 *
 *   npm run bench -- [--devices 300] [--device-poll-seconds 30] [--poll-seconds 5] [--concurrency 16]
 *                    [--delay-batches 6] [--delay-seconds 3] [--json FILE] [--cpu-profile PREFIX]
 *
 * `--cpu-profile PREFIX` writes the host's CPU profile of the poll window and of the raw reads on
 * the handlers' client to PREFIX-poll.cpuprofile and PREFIX-get-item.cpuprofile (Chrome DevTools'
 * Performance panel or speedscope open them): what the poll adds is where the two differ.
 */
import './quiet';
import { fork, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Session } from 'node:inspector/promises';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { emulatorClientConfig } from '../../infra/embedded/emulators';
import { startHost } from '../../infra/embedded/host';
import type { InvocationRecord } from '../../infra/embedded/lambda-runtime';
import { functions, queues, type FunctionName, type FunctionSpec } from '../../infra/manifest';
import { keys } from '../../lib/store/keys';
import { getStoredDevice } from '../../lib/store/devices';
import { flow } from '../support/flow';
import type { FleetCounts, FleetMessage, FleetRequest, FleetResults } from './fleet-process';
import { clients } from './load';


const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '300' },
    'device-poll-seconds': { type: 'string', default: '30' },
    'poll-seconds': { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '16' },
    'delay-batches': { type: 'string', default: '6' },
    'delay-seconds': { type: 'string', default: '3' },
    json: { type: 'string' },
    'cpu-profile': { type: 'string' },
  },
});
function positive(name: keyof typeof values): number {
  const value = Number(values[name]);
  if (!(value > 0)) {
    process.stderr.write(`--${name} must be a positive number, got ${values[name]}\n`);
    process.exit(2);
  }
  return value;
}
const fleetSize = positive('devices');
const devicePollSeconds = positive('device-poll-seconds');
const pollSeconds = positive('poll-seconds');
const concurrency = positive('concurrency');
const delayBatches = positive('delay-batches');
const delaySeconds = positive('delay-seconds');

/** 2026-12 list prices, us-east-1 (read in December 2026): on-demand and standard tiers, no free tier. */
const prices = {
  label: '2026-12 list prices, us-east-1',
  dynamodbWru: 0.625 / 1e6,
  dynamodbRru: 0.125 / 1e6,
  sqsStandardRequest: 0.4 / 1e6,
  sqsFifoRequest: 0.5 / 1e6,
  /** API Gateway REST API, first tier. */
  apiRequest: 3.5 / 1e6,
  lambdaRequest: 0.2 / 1e6,
  lambdaGbSecond: 0.0000166667,
  hoursPerMonth: 730,
};

/** Every figure printed, by a stable name: what `--json` writes. */
const figures: Record<string, number> = {};
function figure(name: string, value: number): number {
  if (Number.isFinite(value)) figures[name] = value;
  return value;
}
const fixed = (name: string, value: number, digits: number) => figure(name, value).toFixed(digits);

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const mib = (kib: number) => kib / 1024;
const cpuMs = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000;

// ---------------------------------------------------------------------------------------------
// What the host does, counted: `requests:<service> <operation>`, `wru:<operation>`,
// `rru:<operation>`, `invocations:<function>`, `gbs:<function>`, `timeouts:<function>`…

const tally = new Map<string, number>();
const add = (key: string, n = 1) => tally.set(key, (tally.get(key) ?? 0) + n);
const snapshot = () => new Map(tally);
/** What was counted since `before`, less each `[times, counts]` (e.g. the devices' polls). */
function since(before: Map<string, number>, ...less: [number, Map<string, number>][]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [key, n] of tally) counts.set(key, n - (before.get(key) ?? 0));
  for (const [times, other] of less) for (const [key, n] of other) counts.set(key, (counts.get(key) ?? 0) - times * n);
  return counts;
}
/** `[name, n]` of one kind of count, largest first, zeros left out. */
const ofKind = (counts: Map<string, number>, kind: string) =>
  [...counts]
    .filter(([key, n]) => key.startsWith(`${kind}:`) && Math.abs(n) > 1e-9)
    .map(([key, n]) => [key.slice(kind.length + 1), n] as const)
    .sort((a, b) => b[1] - a[1]);
const sumOfKind = (counts: Map<string, number>, kind: string) => ofKind(counts, kind).reduce((sum, [, n]) => sum + n, 0);

const readOperations = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);
/** The index writes (not by operation: dynalite's index update does not know the request). */
const gsiWrites = 'GSI writes';

/**
 * Read and write units by operation, as DynamoDB bills them. dynalite 4 answers
 * `ReturnConsumedCapacity: 'TOTAL'` for GetItem, PutItem, UpdateItem, DeleteItem, Query,
 * BatchGetItem and BatchWriteItem by DynamoDB's rules (1 WRU per started KB of the larger of the
 * old and new item; 1 RRU per 4 KB strongly consistent, half eventually; a Query's sizes summed
 * first), so those figures are its own. Two things it leaves out, counted here instead:
 * - a conditional write whose condition failed: DynamoDB bills it (the existing item's size, at
 *   least 1 WRU) but reports no units with the error, and neither does dynalite. Counted as 1 WRU,
 *   the minimum, and shown on a line of its own.
 * - writes to global secondary indexes: DynamoDB bills each index entry put or deleted (1 WRU per
 *   started KB of the projected item), and its TOTAL includes them; dynalite's does not. Computed
 *   from the index updates dynalite makes (`gsiWriteUnits`, below).
 */
function countRequests(service: 'dynamodb' | 'sqs', client: { middlewareStack: unknown }): void {
  type Args = { input: Record<string, unknown> };
  type Result = { output: { ConsumedCapacity?: { CapacityUnits?: number } | { CapacityUnits?: number }[] } };
  (client.middlewareStack as { add: (m: unknown, o: unknown) => void }).add(
    (next: (args: Args) => Promise<Result>, context: { commandName?: string }) => async (args: Args) => {
      const operation = (context.commandName ?? '?').replace(/Command$/, '');
      if (service === 'sqs') {
        add(`requests:${String(args.input.QueueUrl ?? '').endsWith('.fifo') ? 'sqs-fifo' : 'sqs'} ${operation}`);
        return next(args);
      }
      add(`requests:dynamodb ${operation}`);
      const unit = readOperations.has(operation) ? 'rru' : 'wru';
      const input = args.input.ReturnConsumedCapacity === undefined ? { ...args.input, ReturnConsumedCapacity: 'TOTAL' } : args.input;
      try {
        const result = await next({ ...args, input });
        const consumed = result.output.ConsumedCapacity;
        if (consumed === undefined) add(`uncounted:${operation}`);
        for (const one of [consumed ?? []].flat()) add(`${unit}:${operation}`, one.CapacityUnits ?? 0);
        return result;
      } catch (error) {
        if (error instanceof Error && error.name === 'ConditionalCheckFailedException') {
          add(`wru:${operation}`);
          add(`failed-conditions:${operation}`);
        }
        throw error;
      }
    },
    { step: 'initialize', name: 'benchCounter' },
  );
}

type AttributeMap = Record<string, unknown>;
interface DynaliteTable {
  KeySchema: { AttributeName: string }[];
  GlobalSecondaryIndexes?: { KeySchema: { AttributeName: string }[]; Projection: { ProjectionType: string; NonKeyAttributes?: string[] } }[];
}
interface DynaliteDb {
  itemSize: (item: AttributeMap) => number;
  updateIndexes: (store: unknown, table: DynaliteTable, existingItem: AttributeMap | null | undefined, item: AttributeMap | null | undefined, cb: unknown) => unknown;
}

/**
 * The WRUs DynamoDB would bill the indexes for one item write: an entry that appears or goes is
 * one put or delete, a moved key both, an entry whose projected attributes changed one put, an
 * unchanged one nothing. (Attributes are compared as dynalite stores them; a nested map whose
 * keys came back in another order counts as changed, so this may overstate, never understate.)
 */
function gsiWriteUnits(db: DynaliteDb, table: DynaliteTable, before: AttributeMap | null | undefined, after: AttributeMap | null | undefined): number {
  const tableKeys = table.KeySchema.map((k) => k.AttributeName);
  const units = (entry: AttributeMap) => Math.max(1, Math.ceil(db.itemSize(entry) / 1024));
  let total = 0;
  for (const index of table.GlobalSecondaryIndexes ?? []) {
    const indexKeys = index.KeySchema.map((k) => k.AttributeName);
    const entryOf = (item: AttributeMap | null | undefined): AttributeMap | undefined => {
      if (!item || !indexKeys.every((k) => item[k] != null)) return undefined;
      if (index.Projection.ProjectionType === 'ALL') return item;
      const projected = [...indexKeys, ...tableKeys, ...(index.Projection.NonKeyAttributes ?? [])];
      return Object.fromEntries(projected.filter((k) => item[k] != null).map((k) => [k, item[k]]));
    };
    const [old, next] = [entryOf(before), entryOf(after)];
    const same = (a: AttributeMap, b: AttributeMap, names: string[]) => names.every((k) => JSON.stringify(a[k]) === JSON.stringify(b[k]));
    if (old && next) {
      if (!same(old, next, indexKeys)) total += units(old) + units(next);
      else if (!same(old, next, [...new Set([...Object.keys(old), ...Object.keys(next)])])) total += units(next);
    } else if (old || next) {
      total += units((old ?? next)!);
    }
  }
  return total;
}

/** Hooks dynalite's index updates (it runs in this process, inside the host); false if its internals moved. */
function countIndexWrites(): boolean {
  const db = createRequire(import.meta.url)('dynalite/db') as Partial<DynaliteDb>;
  const original = db.updateIndexes;
  if (typeof original !== 'function' || typeof db.itemSize !== 'function') return false;
  db.updateIndexes = function (this: unknown, store, table, existingItem, item, cb) {
    add(`wru:${gsiWrites}`, gsiWriteUnits(db as DynaliteDb, table, existingItem, item));
    return original.call(this, store, table, existingItem, item, cb);
  };
  return true;
}

function countInvocation(record: InvocationRecord): void {
  add(`invocations:${record.function}`);
  // Lambda bills duration in whole milliseconds, rounded up.
  add(`gbs:${record.function}`, (record.memoryMb / 1024) * (Math.max(1, Math.ceil(record.durationMs)) / 1000));
  if (record.outcome !== 'ok') add(`${record.outcome === 'timeout' ? 'timeouts' : 'errors'}:${record.function}`);
}

// ---------------------------------------------------------------------------------------------
// The fleet's process.

interface FleetProcess {
  request<T extends FleetRequest['type']>(request: Extract<FleetRequest, { type: T }>): Promise<FleetResults[T]>;
  /** The child's peak RSS, as of its last reply. */
  readonly maxRssKiB: number;
  stop(): Promise<void>;
}

/**
 * A sampling CPU profile of this process's main thread (the host's event loop), for `--cpu-profile`.
 * Its times are wall-clock between samples: while the fleet's clients compete for the cores, every
 * frame looks slower alike, so read it for shares, and `process.cpuUsage` for the milliseconds.
 */
async function startProfiler() {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  await session.post('Profiler.start');
  return {
    async stop() {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      return profile;
    },
  };
}

async function startFleetProcess(): Promise<FleetProcess> {
  const child: ChildProcess = fork(fileURLToPath(new URL('./fleet-process.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, LOG_LEVEL: 'silent' },
  });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  let maxRssKiB = 0;
  let exited: string | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    child.on('message', (message: FleetMessage) => {
      if (message.type === 'ready') return resolve();
      maxRssKiB = Math.max(maxRssKiB, message.maxRssKiB);
      const waiting = pending.get(message.id);
      pending.delete(message.id);
      if (message.error !== undefined) waiting?.reject(new Error(`fleet process: ${message.error}`));
      else waiting?.resolve(message.result);
    });
    child.once('exit', (code, signal) => {
      exited = `the fleet process exited (code ${code}, signal ${signal})`;
      for (const waiting of pending.values()) waiting.reject(new Error(exited));
      pending.clear();
      reject(new Error(exited));
    });
  });
  await ready;
  const request = <T extends FleetRequest['type']>(request: Extract<FleetRequest, { type: T }>) => {
    if (exited) return Promise.reject(new Error(exited));
    const id = nextId++;
    return new Promise<FleetResults[T]>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ id, request });
    });
  };
  return {
    request,
    get maxRssKiB() {
      return maxRssKiB;
    },
    async stop() {
      if (exited) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await request({ type: 'stop' }).catch(() => undefined);
      await gone;
      clearTimeout(timer);
    },
  };
}

/** Polls by hint in `after`, less those in `before`, longest hint first. */
function hintsBetween(after: FleetCounts, before?: FleetCounts): Map<number, number> {
  const hints = new Map(after.hints);
  for (const [hint, n] of before?.hints ?? []) hints.set(hint, (hints.get(hint) ?? 0) - n);
  return new Map([...hints].filter(([, n]) => n > 0).sort((a, b) => b[0] - a[0]));
}
const mostPolls = (hints: Map<number, number>) => [...hints].sort((a, b) => b[1] - a[1])[0]![0];
function describeHints(name: string, hints: Map<number, number>): string {
  return [...hints].map(([hint, n]) => `${hint ? `${hint} s` : 'none'} × ${figure(`hints.${name}.${hint ? `${hint}s` : 'none'}`, n)}`).join(', ');
}

interface BatchPhases {
  batch: number;
  started: number;
  scheduled?: number;
  updated?: number;
  checked?: number;
  completed?: number;
}

/** Each batch's milestones from the rollout's events: started, last device scheduled, last updated (or failed), last health-checked, completed. */
function batchPhases(events: { type: string; timestamp: string; details: Record<string, unknown> }[]): BatchPhases[] {
  const batches = new Map<number, BatchPhases>();
  const later = (a: number | undefined, b: number) => Math.max(a ?? b, b);
  for (const event of events) {
    const number = Number(event.details.batch);
    if (!Number.isInteger(number)) continue;
    const batch = batches.get(number) ?? { batch: number, started: NaN };
    batches.set(number, batch);
    const at = Date.parse(event.timestamp);
    switch (event.type) {
      case 'image.batch_started':
        batch.started = at;
        break;
      case 'image.device_scheduled':
        batch.scheduled = later(batch.scheduled, at);
        break;
      case 'image.device_updated':
      case 'image.device_failed':
        batch.updated = later(batch.updated, at);
        break;
      case 'image.health_check_passed':
      case 'image.health_check_failed':
        batch.checked = later(batch.checked, at);
        break;
      case 'image.batch_completed':
        batch.completed = at;
        break;
    }
  }
  return [...batches.values()].sort((a, b) => a.batch - b.batch);
}
/** When the batch's last device settled: its last update or failure, or its last health check after it. */
const settledAt = (b: BatchPhases) => Math.max(b.updated ?? -Infinity, b.checked ?? -Infinity);

const routed = (name: string) => ((functions as Record<string, FunctionSpec>)[name]?.routes?.length ?? 0) > 0;
const triggeredByFifo = (name: string) => {
  const triggers = (functions as Record<string, FunctionSpec>)[name]?.queues ?? [];
  return triggers.length > 0 && triggers.every((t) => queues[t.queue].fifo);
};
const triggeredByQueue = (name: string) => ((functions as Record<string, FunctionSpec>)[name]?.queues?.length ?? 0) > 0;

// ---------------------------------------------------------------------------------------------

const loadAtStart = loadavg();
const indexWritesCounted = countIndexWrites();
// The production tick (30 s): progress and due times must not need a faster one.
// bench/app is made up: a Docker Hub look-up of it would only add the network's latency to the push.
const host = await startHost({ port: 0, dataDir: ':memory:', quiet: true, onInvocation: countInvocation, dockerHubManifestApiUrl: 'off', quayManifestApiUrl: 'off' });
const watcher = DynamoDBDocumentClient.from(new DynamoDBClient({ ...emulatorClientConfig, endpoint: host.endpoints.dynamodb }));
const { dynamo, sqs } = await import('../../lib/aws-clients');
countRequests('dynamodb', dynamo());
countRequests('sqs', sqs());
const f = flow(host);
let fleet: FleetProcess;
try {
  fleet = await startFleetProcess();
} catch (error) {
  await host.stop();
  throw error;
}
const register = (name: string, size: number, image: string) =>
  fleet.request({ type: 'register', fleet: name, apiUrl: host.url, adminKey: host.adminApiKey, size, image, namePrefix: name });

try {
  for (const [name, value] of Object.entries({ devices: fleetSize, device_poll_seconds: devicePollSeconds, poll_seconds: pollSeconds, concurrency, delay_batches: delayBatches, delay_seconds: delaySeconds })) {
    figure(`options.${name}`, value);
  }
  console.log(`Load average at the start: ${loadAtStart.map((n, i) => fixed(`load_average.start.${[1, 5, 15][i]}m`, n, 2)).join(' ')}`);
  // What the host costs doing nothing (its queues polled, its tick): under every figure below.
  const cpuAtIdle = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, 3000));
  console.log(`Idle host: ${fixed('idle.host_cpu_ms_per_s', cpuMs(process.cpuUsage(cpuAtIdle)) / 3, 1)} ms of CPU a second`);

  // 1. The hot path, then the raw read under it.
  await register('poll', 1, 'bench/poll:1');
  await fleet.request({ type: 'poll-once', fleet: 'poll' });
  const beforePolls = snapshot();
  const profileTo = values['cpu-profile'];
  let profiler = profileTo ? await startProfiler() : undefined;
  const cpuAtPolls = process.cpuUsage();
  const polled = await fleet.request({ type: 'poll-clients', fleet: 'poll', seconds: pollSeconds, concurrency });
  const pollCpuMs = cpuMs(process.cpuUsage(cpuAtPolls)) / polled.requests;
  if (profiler) await writeFile(`${profileTo}-poll.cpuprofile`, JSON.stringify(await profiler.stop()));
  const perPoll = new Map([...since(beforePolls)].map(([key, n]) => [key, n / polled.requests]));
  const read = await fleet.request({ type: 'get-item-clients', fleet: 'poll', seconds: pollSeconds, concurrency, endpoint: host.endpoints.dynamodb, tableName: host.tableName });
  // The same read from this process, through the handlers' own client, as the poll's handler
  // makes it: what the poll adds to the read it is built on, on the same event loop.
  const probeUuid = (await f.api('GET', '/api/v1/devices?limit=100')).body.devices.find((d: { name: string }) => d.name === 'poll-1').uuid as string;
  profiler = profileTo ? await startProfiler() : undefined;
  const cpuAtReads = process.cpuUsage();
  const hostRead = await clients(pollSeconds, concurrency, () => getStoredDevice(probeUuid));
  if (profiler) await writeFile(`${profileTo}-get-item.cpuprofile`, JSON.stringify(await profiler.stop()));
  const hostReadCpuMs = cpuMs(process.cpuUsage(cpuAtReads)) / hostRead.requests;
  // The same way in with no AWS call behind it: the public OpenAPI document, answered 304. What
  // the emulated API Gateway and Lambda runtime, middy and Powertools cost a request, alone.
  const docsUrl = `${host.url}/api/v1/openapi.json`;
  const docsEtag = (await fetch(docsUrl)).headers.get('etag') ?? '';
  const cpuAtDocs = process.cpuUsage();
  const docs = await fleet.request({ type: 'not-modified-clients', url: docsUrl, etag: docsEtag, seconds: pollSeconds, concurrency });
  const docsCpuMs = cpuMs(process.cpuUsage(cpuAtDocs)) / docs.requests;
  const pollRate = polled.requests / polled.seconds;
  const readRate = read.requests / read.seconds;
  const hostReadRate = hostRead.requests / hostRead.seconds;
  const pollGbSeconds = (perPoll.get('gbs:deviceApi') ?? 0) / (perPoll.get('invocations:deviceApi') || 1);
  const pollRru = sumOfKind(perPoll, 'rru');
  console.log(`\n1. Device poll, 304 Not Modified, against a raw GetItem of the same item (${concurrency} concurrent clients in the fleet's process, ${pollSeconds} s each)`);
  console.log(`  poll      ${fixed('hot_path.poll.requests_per_s', pollRate, 0).padStart(6)} requests/s   p50 ${fixed('hot_path.poll.p50_ms', polled.p50Ms, 1)} ms   p99 ${fixed('hot_path.poll.p99_ms', polled.p99Ms, 1)} ms   (through the embedded API and the device function)`);
  console.log(`  GetItem   ${fixed('hot_path.get_item.requests_per_s', readRate, 0).padStart(6)} requests/s   p50 ${fixed('hot_path.get_item.p50_ms', read.p50Ms, 1)} ms   p99 ${fixed('hot_path.get_item.p99_ms', read.p99Ms, 1)} ms   (straight to dynalite, eventually consistent, as the poll reads)`);
  console.log(`  GetItem   ${fixed('hot_path.host_get_item.requests_per_s', hostReadRate, 0).padStart(6)} requests/s   p50 ${fixed('hot_path.host_get_item.p50_ms', hostRead.p50Ms, 1)} ms   p99 ${fixed('hot_path.host_get_item.p99_ms', hostRead.p99Ms, 1)} ms   (from the host's process, on the handlers' client, as the poll's handler reads)`);
  console.log(`  the poll costs ${fixed('hot_path.poll_cost_ratio', hostReadRate / pollRate, 2)}× a raw GetItem on the handlers' client (${fixed('hot_path.poll_cost_ratio_store', readRate / pollRate, 2)}× one straight to dynalite), in requests/s; failed: ${figure('hot_path.poll.errors', polled.errors)} polls, ${figure('hot_path.get_item.errors', read.errors + hostRead.errors)} reads`);
  // CPU time per request, not requests per second, is what a busy machine leaves alone: what the
  // poll adds to the read it is built on is the host's own work on it (the store's thread counts in both).
  console.log(
    `  host CPU: ${fixed('hot_path.poll.host_cpu_ms', pollCpuMs, 3)} ms per poll, ${fixed('hot_path.host_get_item.host_cpu_ms', hostReadCpuMs, 3)} ms per GetItem on the handlers' client (the store's thread in both): ` +
      `the poll adds ${fixed('hot_path.poll_added_cpu_ms', pollCpuMs - hostReadCpuMs, 3)} ms (${fixed('hot_path.poll_cpu_ratio', pollCpuMs / hostReadCpuMs, 2)}×)`,
  );
  console.log(
    `  the same way in with no AWS call (GET /api/v1/openapi.json, 304): ${fixed('hot_path.no_aws_call.requests_per_s', docs.requests / docs.seconds, 0)} requests/s, ` +
      `host CPU ${fixed('hot_path.no_aws_call.host_cpu_ms', docsCpuMs, 3)} ms (the emulated API Gateway and Lambda runtime, middy, Powertools); failed: ${figure('hot_path.no_aws_call.errors', docs.errors)}`,
  );
  console.log(
    `  per poll: ${ofKind(perPoll, 'requests').filter(([, n]) => n >= 0.005).map(([k, n]) => `${k} ${fixed(`hot_path.per_poll.requests.${k.replace(' ', '.').replace('-', '_')}`, n, 2)}`).join(', ')}; ` +
      `${fixed('hot_path.per_poll.rru', pollRru, 2)} RRU; Lambda ${fixed('hot_path.per_poll.lambda_ms', (pollGbSeconds / (functions.deviceApi.memoryMb / 1024)) * 1000, 1)} ms billed at ${functions.deviceApi.memoryMb} MB (the ${concurrency} share the host's one event loop)`,
  );

  // 2. A whole rollout.
  const registered = await register('bench', fleetSize, 'bench/app:1');
  console.log(`\n2. Staged rollout of ${fleetSize} devices (3 batches, no delay, HTTP health checks, devices poll every ${devicePollSeconds} s)`);
  console.log(`  registered ${registered.devices} devices through the API in ${fixed('registration.seconds', registered.seconds, 1)} s (16 at a time)`);
  const health = await fleet.request({ type: 'start-health', fleet: 'bench' });
  // One poll each before the push: the idle hint, and every device on its target.
  const idle = await fleet.request({ type: 'poll-once', fleet: 'bench' });
  await fleet.request({ type: 'start-polling', fleet: 'bench', intervalMs: devicePollSeconds * 1000 });
  await f.createPolicy({
    image_pattern: 'bench/app:*',
    staged_batches: 3,
    batch_delay_minutes: 0,
    health_check_enabled: true,
    health_check_config: { type: 'http', endpoint: `http://{device_ip}:${health.port}/health`, timeout: 2, retries: 1 },
  });
  const countsBefore = await fleet.request({ type: 'counts', fleet: 'bench' });
  const rssBefore = process.memoryUsage().rss;
  const cpuBefore = process.cpuUsage();
  const beforeRollout = snapshot();
  const pushedAt = Date.now();
  const id = (await f.push('bench/app', '2')).body.rollouts[0].id;
  // Watched by reading the rollout item on a client of the bench's own, which the counters above
  // do not see: the figures are the rollout's alone, with no looks to take out.
  for (;;) {
    const { Item } = await watcher.send(new GetCommand({ TableName: host.tableName, Key: keys.rollout(id), ConsistentRead: true }));
    if (Item?.status !== 'in_progress' && Item?.status !== 'pending') break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const done = await f.rollout(id);
  const seconds = (Date.now() - pushedAt) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const hostMaxRssKiB = process.resourceUsage().maxRSS;
  const rssGrowth = process.memoryUsage().rss - rssBefore;
  const rolloutEnd = snapshot();
  const countsAfter = await fleet.request({ type: 'counts', fleet: 'bench' });
  await fleet.request({ type: 'stop-polling', fleet: 'bench' });
  await fleet.request({ type: 'stop-health', fleet: 'bench' });
  const rolloutCounts = since(beforeRollout, [1, since(rolloutEnd)]);
  const polls = countsAfter.polls - countsBefore.polls;
  const reports = countsAfter.reports - countsBefore.reports;
  const events = await f.events(id, 500);

  // The rollout itself: less the devices' polls (each one device read and one deviceApi
  // invocation, as measured in 1). The host does not tell a poll's invocation from a report's, so
  // each function's GB-seconds are shared pro rata over its invocations, the rollout's own kept.
  const lambdaNames = Object.keys(functions) as FunctionName[];
  const pollsDynamo = new Map([...perPoll].filter(([key]) => /^(requests:dynamodb |rru:|wru:|failed-conditions:)/.test(key)));
  const own = since(beforeRollout, [1, since(rolloutEnd)], [polls, pollsDynamo]);
  own.set('invocations:deviceApi', (rolloutCounts.get('invocations:deviceApi') ?? 0) - polls);
  for (const name of lambdaNames) {
    const all = rolloutCounts.get(`invocations:${name}`) ?? 0;
    const kept = Math.max(0, own.get(`invocations:${name}`) ?? 0);
    own.set(`invocations:${name}`, kept);
    own.set(`gbs:${name}`, all > 0 ? ((rolloutCounts.get(`gbs:${name}`) ?? 0) * kept) / all : 0);
  }
  const perDevice = (n: number) => n / fleetSize;

  console.log(`  ${done.rollout.status} in ${fixed('rollout.seconds', seconds, 1)} s; healthy ${figure('rollout.healthy', done.statistics.healthy)}, rolled back ${figure('rollout.rolled_back', done.statistics.rolled_back)}`);
  const started = events.find((e) => e.type === 'image.rollout_started');
  if (started) console.log(`  planning (push → rollout started): ${fixed('rollout.planning_s', (Date.parse(started.timestamp) - pushedAt) / 1000, 2)} s`);
  const phases = batchPhases(events);
  const gap = (from: number | undefined, to: number | undefined) => (from !== undefined && to !== undefined ? (to - from) / 1000 : NaN);
  const secondsOf = (name: string, s: number) => (Number.isFinite(s) ? `${fixed(name, s, 1)} s` : '-');
  for (const b of phases) {
    const key = `rollout.batch.${b.batch}`;
    const size = done.rollout.batches.find((x: any) => x.number === b.batch)?.size ?? 0;
    console.log(
      `  batch ${b.batch}: ${String(figure(`${key}.devices`, size)).padStart(5)} devices in ${secondsOf(`${key}.seconds`, gap(b.started, b.completed))}: ` +
        `scheduling ${secondsOf(`${key}.scheduling_s`, gap(b.started, b.scheduled))}, updates ${secondsOf(`${key}.updates_s`, gap(b.scheduled, b.updated))}, ` +
        `health checks ${secondsOf(`${key}.health_checks_s`, gap(b.updated, b.checked))}, evaluation ${secondsOf(`${key}.evaluation_s`, gap(settledAt(b), b.completed))}`,
    );
  }
  const advance = phases.filter((b) => b.completed !== undefined && Number.isFinite(settledAt(b))).map((b) => b.completed! - settledAt(b)).sort((a, b) => a - b);
  if (advance.length > 0) {
    console.log(`  batch-advance latency (last device settled → batch completed): p50 ${fixed('rollout.batch_advance_ms.p50', percentile(advance, 50), 0)} ms   max ${fixed('rollout.batch_advance_ms.max', advance[advance.length - 1]!, 0)} ms`);
  }
  console.log(
    `  host process (this one: the host, and the bench's reads of the rollout item once a second): ${fixed('host.cpu_ms_per_device', cpuMs(cpu) / fleetSize, 2)} CPU-ms per device ` +
      `(${fixed('host.cpu_s', cpuMs(cpu) / 1000, 1)} s over the rollout's ${seconds.toFixed(1)} s); peak RSS ${fixed('host.peak_rss_mib', mib(hostMaxRssKiB), 0)} MiB, changed by ${fixed('host.rss_change_mib', rssGrowth / 2 ** 20, 0)} MiB during the rollout`,
  );
  console.log(`  fleet process (the ${fleetSize + 1} simulated devices): peak RSS ${fixed('fleet.peak_rss_mib', mib(fleet.maxRssKiB), 0)} MiB; ${figure('fleet.poll_errors', countsAfter.errors)} failed polls${countsAfter.lastError ? ` (last: ${countsAfter.lastError})` : ''}`);

  console.log(`  per device, for the rollout itself (without the ${fixed('rollout.polls_per_device', perDevice(polls), 1)} polls each device made meanwhile):`);
  console.log(`    ${'requests'.padEnd(36)} ${'requests'.padStart(9)} ${'WRU'.padStart(9)} ${'RRU'.padStart(9)}`);
  const column = (name: string, n: number | undefined, digits = 2) => (n === undefined ? '-' : fixed(name, perDevice(n), digits)).padStart(9);
  const dynamoOps = new Set([...ofKind(own, 'requests').filter(([k]) => k.startsWith('dynamodb ')).map(([k]) => k.slice('dynamodb '.length)), ...ofKind(own, 'wru').map(([k]) => k), ...ofKind(own, 'rru').map(([k]) => k)]);
  for (const op of [...dynamoOps].sort((a, b) => (own.get(`requests:dynamodb ${b}`) ?? 0) - (own.get(`requests:dynamodb ${a}`) ?? 0))) {
    const requests = own.get(`requests:dynamodb ${op}`);
    const opName = op === gsiWrites ? 'gsi_writes' : op;
    console.log(
      `    ${(op === gsiWrites ? `dynamodb (${op})` : `dynamodb ${op}`).padEnd(36)} ${column(`rollout.per_device.requests.dynamodb.${opName}`, requests)} ${column(`rollout.per_device.wru.${opName}`, own.get(`wru:${op}`))} ${column(`rollout.per_device.rru.${opName}`, own.get(`rru:${op}`))}`,
    );
  }
  const wru = sumOfKind(own, 'wru');
  const rru = sumOfKind(own, 'rru');
  const dynamoRequests = ofKind(own, 'requests').filter(([k]) => k.startsWith('dynamodb ')).reduce((sum, [, n]) => sum + n, 0);
  console.log(`    ${'dynamodb, all'.padEnd(36)} ${column('rollout.per_device.requests.dynamodb_total', dynamoRequests)} ${column('rollout.per_device.wru_total', wru)} ${column('rollout.per_device.rru_total', rru)}`);
  const failedConditions = ofKind(own, 'failed-conditions');
  if (failedConditions.length > 0) {
    console.log(`      of which conditional writes whose condition failed (1 WRU each): ${failedConditions.map(([k, n]) => `${k} ${fixed(`rollout.per_device.failed_conditions.${k}`, perDevice(n), 3)}`).join(', ')}`);
  }
  if (!indexWritesCounted) console.log(`      GSI writes not counted: dynalite's index update was not found to hook`);
  for (const [op, n] of ofKind(own, 'uncounted')) console.log(`      dynalite returned no ConsumedCapacity for ${n} ${op} requests: their units are missing above`);
  const sqsRequests = ofKind(own, 'requests').filter(([k]) => k.startsWith('sqs'));
  for (const [key, n] of sqsRequests) {
    const [service, op] = key.split(' ') as [string, string];
    console.log(`    ${`${service === 'sqs-fifo' ? 'sqs (FIFO)' : 'sqs'} ${op}`.padEnd(36)} ${column(`rollout.per_device.requests.${service.replace('-', '_')}.${op}`, n)}`);
  }
  const apiRequests = lambdaNames.filter(routed).reduce((sum, name) => sum + (own.get(`invocations:${name}`) ?? 0), 0);
  console.log(`    ${'api (device reports, the push)'.padEnd(36)} ${column('rollout.per_device.requests.api', apiRequests)}   (${fixed('rollout.per_device.reports', perDevice(reports), 2)} reports per device)`);

  console.log(`  Lambda, per device for the rollout itself; timeouts and errors are counts over the rollout. Durations are the`);
  console.log(`  embedded host's, where concurrent invocations share one event loop: more than Lambda would bill.`);
  console.log(`    ${'function'.padEnd(22)} ${'MB'.padStart(5)} ${'invocations'.padStart(12)} ${'GB-s'.padStart(10)} ${'timeouts'.padStart(9)} ${'errors'.padStart(7)}`);
  for (const name of lambdaNames) {
    const key = `rollout.lambda.${name}`;
    console.log(
      `    ${name.padEnd(22)} ${String(functions[name].memoryMb).padStart(5)} ${fixed(`${key}.invocations_per_device`, perDevice(own.get(`invocations:${name}`) ?? 0), 3).padStart(12)} ` +
        `${fixed(`${key}.gb_s_per_device`, perDevice(own.get(`gbs:${name}`) ?? 0), 5).padStart(10)} ${String(figure(`${key}.timeouts`, rolloutCounts.get(`timeouts:${name}`) ?? 0)).padStart(9)} ${String(figure(`${key}.errors`, rolloutCounts.get(`errors:${name}`) ?? 0)).padStart(7)}`,
    );
  }
  const invocations = sumOfKind(own, 'invocations');
  const gbSeconds = sumOfKind(own, 'gbs');
  console.log(`    ${'all'.padEnd(22)} ${''.padStart(5)} ${fixed('rollout.lambda.invocations_per_device', perDevice(invocations), 3).padStart(12)} ${fixed('rollout.lambda.gb_s_per_device', perDevice(gbSeconds), 5).padStart(10)}`);

  // The price of one device update. The event source mappings' own SQS requests are not among the
  // handlers': a receive and a delete per queue-triggered invocation, an estimate (their long
  // polling while idle is a fixed monthly cost, not a device update's).
  const sqsPrice = (fifo: boolean) => (fifo ? prices.sqsFifoRequest : prices.sqsStandardRequest);
  const mappingRequests = lambdaNames.filter(triggeredByQueue).map((name) => [2 * (own.get(`invocations:${name}`) ?? 0), triggeredByFifo(name)] as const);
  const cost = {
    dynamodb: wru * prices.dynamodbWru + rru * prices.dynamodbRru,
    sqs: sqsRequests.reduce((sum, [key, n]) => sum + n * sqsPrice(key.startsWith('sqs-fifo ')), 0),
    sqs_event_source_mappings: mappingRequests.reduce((sum, [n, fifo]) => sum + n * sqsPrice(fifo), 0),
    api: apiRequests * prices.apiRequest,
    lambda: invocations * prices.lambdaRequest + gbSeconds * prices.lambdaGbSecond,
  };
  const total = Object.values(cost).reduce((a, b) => a + b, 0);
  const labels: Record<keyof typeof cost, string> = {
    dynamodb: 'DynamoDB (WRU, RRU)',
    sqs: 'SQS (the handlers)',
    sqs_event_source_mappings: 'SQS (event source mappings, est.)',
    api: 'API Gateway (reports, push)',
    lambda: 'Lambda (requests, GB-s)',
  };
  console.log(`  price per device update (${prices.label}): $${fixed('price.per_device_update_usd', perDevice(total), 8)} ($${fixed('price.per_million_device_updates_usd', perDevice(total) * 1e6, 2)} per million)`);
  for (const [name, usd] of Object.entries(cost) as [keyof typeof cost, number][]) {
    console.log(`    ${labels[name].padEnd(36)} $${fixed(`price.per_million_device_updates.${name}_usd`, perDevice(usd) * 1e6, 2).padStart(7)} per million   ${fixed(`price.share.${name}_pct`, total > 0 ? (100 * usd) / total : 0, 1).padStart(5)}%`);
  }

  // 3. The poll hint. Devices polled every `devicePollSeconds` through the rollout, their phases
  // spread evenly, so the polls a device made under the short hint, times that interval, estimate
  // the seconds it spent told to poll soon.
  const idleHints = hintsBetween(idle);
  const rolloutHints = hintsBetween(countsAfter, countsBefore);
  const idleHint = mostPolls(idleHints);
  const activeHints = [...rolloutHints.keys()].filter((h) => h > 0 && h < idleHint);
  const perHour = (name: string, s: number) => fixed(`polls_per_device_hour.${name}`, 3600 / s, 1);
  console.log(`\n3. Poll hint (server defaults; the rollout above, devices polling every ${devicePollSeconds} s)`);
  console.log(`  hints answered: before the push ${describeHints('idle', idleHints)}; during the rollout ${describeHints('rollout', rolloutHints)}`);
  if (activeHints.length > 0) {
    const activeHint = Math.min(...activeHints);
    const activeSeconds = ((rolloutHints.get(activeHint) ?? 0) * devicePollSeconds) / fleetSize;
    const dayWithRollout = (activeSeconds / activeHint + (86_400 - activeSeconds) / idleHint) / 24;
    console.log(`  each device was told to poll soon for about ${fixed('hint.active_seconds_per_device', activeSeconds, 1)} s of the rollout's ${seconds.toFixed(1)} s (its polls under that hint × ${devicePollSeconds} s)`);
    console.log(`  polls per device-hour: ${perHour('idle', idleHint)} idle with the hint (${idleHint} s), ${perHour('active', activeHint)} while its batch is under way (${activeHint} s)`);
    console.log(`  without a hint: ${perHour('no_hint', 30)} (the agent's 30 s default), ${perHour('no_hint_as_quick', activeHint)} to pick up a batch as soon as with the hint`);
    console.log(`  a device-day with one such rollout: ${fixed('polls_per_device_hour.day_with_rollout', dayWithRollout, 2)} polls per device-hour with the hint`);
  } else {
    console.log(`  polls per device-hour: ${perHour('idle', idleHint)} idle with the hint (${idleHint} s); no poll during the rollout was answered a shorter hint`);
  }
  // A month of polls at the idle hint, each priced as measured in 1.
  const monthPolls = (3600 / idleHint) * prices.hoursPerMonth;
  const pollCost = {
    api: prices.apiRequest,
    lambda_requests: prices.lambdaRequest,
    lambda_duration: pollGbSeconds * prices.lambdaGbSecond,
    dynamodb: pollRru * prices.dynamodbRru + sumOfKind(perPoll, 'wru') * prices.dynamodbWru,
  };
  const pollTotal = Object.values(pollCost).reduce((a, b) => a + b, 0);
  console.log(
    `  price of a device-month of polling at the idle hint (${figure('polls_per_device_month', monthPolls)} polls; ${prices.label}): $${fixed('price.polling_per_device_month_usd', monthPolls * pollTotal, 4)} ` +
      `(${(Object.entries(pollCost) as [string, number][]).map(([name, usd]) => `${name.replace('_', ' ')} ${fixed(`price.polling_share.${name}_pct`, (100 * usd) / pollTotal, 1)}%`).join(', ')})`,
  );

  // 4. Due times.
  await register('delay', 4 * delayBatches, 'bench/delay:1');
  await fleet.request({ type: 'start-polling', fleet: 'delay', intervalMs: 200 });
  await f.createPolicy({ image_pattern: 'bench/delay:*', staged_batches: delayBatches, batch_delay_minutes: delaySeconds / 60 });
  const delayedId = (await f.push('bench/delay', '2')).body.rollouts[0].id;
  const finished = await f.waitForStatus(delayedId, 'completed', 120_000 + delayBatches * delaySeconds * 1000);
  await fleet.request({ type: 'stop-polling', fleet: 'delay' });
  const dueTimes = new Map<number, string>();
  for (const event of await f.events(delayedId, 500)) {
    if (event.type === 'image.batch_completed' && typeof event.details.next_batch_due_at === 'string') dueTimes.set(Number(event.details.batch), event.details.next_batch_due_at);
  }
  const lateness = finished.rollout.batches
    .filter((b: any) => b.number > 1)
    .map((b: any) => [b.number, Date.parse(b.started_at) - Date.parse(dueTimes.get(b.number - 1)!)] as [number, number]);
  const sorted = lateness.map(([, ms]: [number, number]) => ms).sort((a: number, b: number) => a - b);
  console.log(`\n4. Due times: ${delayBatches} batches, ${delaySeconds} s batch delay, tick every 30 s`);
  console.log(
    `  next batch started after its due time: p50 ${fixed('due.lateness_ms.p50', percentile(sorted, 50), 0)} ms   max ${fixed('due.lateness_ms.max', sorted[sorted.length - 1]!, 0)} ms   ` +
      `(${lateness.length} batch starts: ${lateness.map(([batch, ms]: [number, number]) => fixed(`due.lateness_ms.batch_${batch}`, ms, 0)).join(', ')} ms)`,
  );

  const loadAtEnd = loadavg();
  console.log(`\nLoad average at the end: ${loadAtEnd.map((n, i) => fixed(`load_average.end.${[1, 5, 15][i]}m`, n, 2)).join(' ')}; fleet process peak RSS ${fixed('fleet.peak_rss_mib_end', mib(fleet.maxRssKiB), 0)} MiB`);
  if (values.json) {
    await writeFile(values.json, `${JSON.stringify(figures, null, 2)}\n`);
    console.log(`figures written to ${values.json}`);
  }
} finally {
  watcher.destroy();
  await fleet.stop();
  await host.stop();
}
