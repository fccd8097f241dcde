/**
 * The faults of the chaos run, injected where AWS would produce them: in the SDK clients the
 * handlers use (lib/aws-clients.ts), as middleware. A fault is a throttle, a 500 or a timeout,
 * raised either before the call reaches DynamoDB or SQS (nothing happened) or after it (the write
 * happened, the caller saw an error: the hard case). Some surface to the handler; others sit
 * inside the SDK's retry loop, so a write that landed is sent again by the SDK itself and a
 * conditional write finds its own earlier effect, as happens on AWS after a lost response.
 *
 * Slow writes too: a share of the updates of device items reach the store up to two seconds late
 * (a call stuck behind throttling and backoff), so that a page of an older rollout's scheduling
 * still lands while a newer push's rollout takes the same devices over, and rollouts race over
 * a device's target as they can in production, not only within a few milliseconds.
 *
 * And overtaken writes: a few times per host life, the oldest rollout's write of a device's target
 * to a tag that is pushed again is held back until a newer rollout's write of the same device has
 * landed (or ten seconds pass), so the older write reaches the store second, with the device's
 * version moved on under it. That is the race the rank condition of a target write exists for;
 * left to chance it almost never happens, since planning puts a repository's devices in the same
 * order for every push and a newer push's rollout supersedes the older one as it starts.
 *
 * Also the redelivery fault of the embedded host's queue triggers (infra/embedded/sqs-poller.ts):
 * every batch a second time, sometimes reversed, sometimes later than newer messages.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { SQSRecord } from 'aws-lambda';
import type { Redelivery } from '../../infra/embedded/sqs-poller';
import { Random } from './random';

export type FaultKind = 'throttle' | 'server' | 'timeout';
export type FaultTiming = 'before' | 'after';

export interface Fault {
  service: 'dynamodb' | 'sqs';
  command: string;
  kind: FaultKind;
  timing: FaultTiming;
  /** Raised inside the SDK's retry loop (the SDK retries it) rather than to the handler. */
  retried: boolean;
}

/** DynamoDB calls that change the table: where a crash right after a write lands. */
export const writeCommands: ReadonlySet<string> = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand', 'BatchWriteItemCommand']);

const throttleNames = { dynamodb: 'ProvisionedThroughputExceededException', sqs: 'ThrottlingException' } as const;

/** The error the SDK would raise: named and shaped so its retry strategy classifies it as AWS's own. */
export function faultError(fault: Fault): Error {
  const [name, status, message] =
    fault.kind === 'throttle'
      ? [fault.service === 'dynamodb' && fault.command.startsWith('Batch') ? 'ThrottlingException' : throttleNames[fault.service], 400, 'Rate exceeded (chaos)']
      : fault.kind === 'server'
        ? ['InternalServerError', 500, 'Internal server error (chaos)']
        : ['TimeoutError', undefined, 'Connection timed out after 1000 ms (chaos)'];
  const error = new Error(`${message}: ${fault.timing} ${fault.command}`) as Error & { $fault?: string; $metadata?: object };
  error.name = name;
  if (status !== undefined) {
    error.$fault = status >= 500 ? 'server' : 'client';
    error.$metadata = { httpStatusCode: status, attempts: 1, totalRetryDelay: 0 };
  }
  return error;
}

/** Slow writes, as a multiple of the fault rate: common enough to race in most runs. */
const slowWriteShare = 3;
const slowWriteMs = { min: 200, max: 2000 };

/** Overtaken writes: the share of the candidates held, at most so many per host life, each at most so long. */
const holdShare = 0.5;
const holdsPerLife = 8;
const holdMaxMs = 10_000;

/** A string, marshalled (`{ S: … }`) or not. */
function stringOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  const marshalled = (value as { S?: unknown } | undefined)?.S;
  return typeof marshalled === 'string' ? marshalled : undefined;
}

/** The partition key of a call's input. */
function partitionKeyOf(input: unknown): string | undefined {
  return stringOf((input as { Key?: { pk?: unknown } } | undefined)?.Key?.pk);
}

/**
 * A rollout's write of a device's target (it carries the rollout's rank and its pointer): the
 * device's key, the rank, and the image the pointer names, without its digest.
 */
function targetWriteOf(service: Fault['service'], command: string, input: unknown): { pk: string; rank: string; image: string } | undefined {
  if (service !== 'dynamodb' || command !== 'UpdateItemCommand') return undefined;
  const pk = partitionKeyOf(input);
  const values = (input as { ExpressionAttributeValues?: Record<string, unknown> } | undefined)?.ExpressionAttributeValues;
  const rank = stringOf(values?.[':rank']);
  const pointer = values?.[':pointer'] as { image?: unknown; M?: { image?: unknown } } | undefined;
  const image = stringOf(pointer?.image ?? pointer?.M?.image)?.split('@')[0];
  return pk?.startsWith('DEVICE#') && rank !== undefined && image !== undefined ? { pk, rank, image } : undefined;
}

/** How a held write ended: a newer rollout's write of the device landed first, or the hold ran out. */
export type HoldEnd = 'overtaken' | 'timed_out';

/**
 * Which calls fail and how: a seeded draw per call, at `rate`, which can change while running.
 * Slow writes have a sequence of their own, so that adding them left the failures' unchanged.
 */
export class FaultPlan {
  private readonly random: Random;
  private readonly slowRandom: Random;
  private readonly holdRandom: Random;
  private holdsLeft = holdsPerLife;
  /** The target writes held back now, by device key. */
  private readonly held = new Map<string, Set<{ rank: string; end: (how: HoldEnd) => void }>>();
  /** The oldest rank seen writing each of `pushedAgain`. */
  private readonly oldestRank = new Map<string, string>();

  /** `pushedAgain`: the `repository:tag` of each tag the run pushes more than once. */
  constructor(
    seed: number,
    public rate: number,
    private readonly pushedAgain: ReadonlySet<string> = new Set(),
  ) {
    this.random = new Random(seed);
    this.slowRandom = this.random.fork(0x510);
    this.holdRandom = this.random.fork(0x401d);
  }

  /** Whether a target write is held back now: a crash waits for it, or the race it stands for would die with the host. */
  get holding(): boolean {
    return this.held.size > 0;
  }

  /**
   * Whether this call is a target write to hold back (the oldest rollout's seen so far of a tag
   * pushed again): then a promise of how the hold ended, once the write may go (see `landed`).
   */
  hold(service: Fault['service'], command: string, input: unknown): Promise<HoldEnd> | undefined {
    const write = targetWriteOf(service, command, input);
    const tag = write && [...this.pushedAgain].find((t) => write.image === t || write.image.endsWith(`/${t}`));
    if (!write || !tag || this.rate <= 0) return undefined;
    const oldest = this.oldestRank.get(tag);
    if (oldest !== undefined && oldest < write.rank) return undefined;
    this.oldestRank.set(tag, write.rank);
    if (this.holdsLeft <= 0 || !this.holdRandom.chance(holdShare)) return undefined;
    this.holdsLeft--;
    const waiting = this.held.get(write.pk) ?? new Set();
    this.held.set(write.pk, waiting);
    return new Promise((resolve) => {
      const waiter = {
        rank: write.rank,
        end: (how: HoldEnd) => {
          clearTimeout(timer);
          waiting.delete(waiter);
          if (waiting.size === 0 && this.held.get(write.pk) === waiting) this.held.delete(write.pk);
          resolve(how);
        },
      };
      const timer = setTimeout(() => waiter.end('timed_out'), holdMaxMs).unref();
      waiting.add(waiter);
    });
  }

  /** A call succeeded: if it was a target write, the writes of older rollouts held back on the same device go now. */
  landed(service: Fault['service'], command: string, input: unknown): void {
    const write = targetWriteOf(service, command, input);
    if (!write) return;
    for (const waiter of [...(this.held.get(write.pk) ?? [])]) if (waiter.rank < write.rank) waiter.end('overtaken');
  }

  /** How long this call waits before it is sent: 0, or a slow write to a device item. */
  delayMs(service: Fault['service'], command: string, input: unknown): number {
    if (this.rate <= 0 || service !== 'dynamodb' || command !== 'UpdateItemCommand' || !partitionKeyOf(input)?.startsWith('DEVICE#')) return 0;
    return this.slowRandom.chance(Math.min(1, this.rate * slowWriteShare)) ? this.slowRandom.int(slowWriteMs.min, slowWriteMs.max) : 0;
  }

  decide(service: Fault['service'], command: string): Fault | undefined {
    if (this.rate <= 0 || !this.random.chance(this.rate)) return undefined;
    return {
      service,
      command,
      kind: this.random.pick(['throttle', 'server', 'timeout'] as const),
      // Reads fail before the call; half the writes fail after it happened.
      timing: writeCommands.has(command) || command.startsWith('SendMessage') ? this.random.pick(['before', 'after'] as const) : 'before',
      retried: this.random.chance(0.3),
    };
  }
}

export interface FaultHooks {
  /** A fault was raised. */
  onFault?: (fault: Fault) => void;
  /** A call was held back before it was sent, by this many ms. */
  onDelay?: (ms: number) => void;
  /** A target write was held back until a newer rollout's landed, or until the hold ran out. */
  onHold?: (how: HoldEnd) => void;
  /** A DynamoDB write call returned from the store (whether or not a fault followed). */
  afterWrite?: (command: string) => void;
}

/** The part of an SDK client this module needs: its middleware stack (typed loosely: each client's differs). */
interface StackOwner {
  middlewareStack: { add(middleware: never, options: never): void };
}

type Middleware = (next: (args: unknown) => Promise<unknown>, context: Record<string | symbol, unknown>) => (args: unknown) => Promise<unknown>;
type Placement = { step: 'initialize' | 'finalizeRequest'; priority: 'high' | 'low'; name: string };

function add(client: StackOwner, middleware: Middleware, placement: Placement): void {
  (client.middlewareStack.add as (middleware: Middleware, options: Placement) => void).call(client.middlewareStack, middleware, placement);
}

const pending = Symbol('chaos fault');

/**
 * Adds the faults to a client: one middleware outside the retry loop holds slow and overtaken
 * writes back, decides per call, and raises surfaced faults itself; one inside it raises the
 * retried ones, on the first attempt only.
 */
export function installFaults(client: StackOwner, service: Fault['service'], plan: FaultPlan, hooks: FaultHooks = {}): void {
  const raise = async (fault: Fault, next: (args: unknown) => Promise<unknown>, args: unknown) => {
    hooks.onFault?.(fault);
    if (fault.timing === 'before') throw faultError(fault);
    await next(args);
    if (service === 'dynamodb' && writeCommands.has(fault.command)) hooks.afterWrite?.(fault.command);
    throw faultError(fault);
  };
  add(
    client,
    (next, context) => async (args) => {
      const command = String(context.commandName ?? 'unknown');
      const input = (args as { input?: unknown }).input;
      const held = plan.hold(service, command, input);
      if (held) hooks.onHold?.(await held);
      const delay = plan.delayMs(service, command, input);
      if (delay > 0) {
        hooks.onDelay?.(delay);
        await sleep(delay);
      }
      const fault = plan.decide(service, command);
      if (fault?.retried) context[pending] = fault;
      else if (fault) return raise(fault, next, args);
      const result = await next(args);
      plan.landed(service, command, input);
      if (service === 'dynamodb' && writeCommands.has(command)) hooks.afterWrite?.(command);
      return result;
    },
    { step: 'initialize', priority: 'high', name: 'chaosFaults' },
  );
  add(
    client,
    (next, context) => async (args) => {
      const fault = context[pending] as Fault | undefined;
      if (!fault) return next(args);
      delete context[pending];
      return raise(fault, next, args);
    },
    { step: 'finalizeRequest', priority: 'low', name: 'chaosRetriedFaults' },
  );
}

/**
 * The redelivery fault: every batch once more, right away (reversed, sometimes) or a little
 * later, behind newer messages; `onCopy` counts the duplicates.
 */
export function redeliveryPlan(seed: number, onCopy: (records: number) => void): Redelivery {
  const random = new Random(seed);
  return {
    copies(records: readonly SQSRecord[]) {
      const copy = random.chance(0.3) ? [...records].reverse() : [...records];
      const afterMs = random.chance(0.25) ? random.int(200, 2500) : 0;
      onCopy(records.length);
      return [{ records: copy, afterMs }];
    },
  };
}
