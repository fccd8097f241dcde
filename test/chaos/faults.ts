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

/** The partition key of a call's input, marshalled (`{ S: … }`) or not. */
function partitionKeyOf(input: unknown): string | undefined {
  const pk = (input as { Key?: { pk?: unknown } } | undefined)?.Key?.pk;
  if (typeof pk === 'string') return pk;
  const marshalled = (pk as { S?: unknown } | undefined)?.S;
  return typeof marshalled === 'string' ? marshalled : undefined;
}

/**
 * Which calls fail and how: a seeded draw per call, at `rate`, which can change while running.
 * Slow writes have a sequence of their own, so that adding them left the failures' unchanged.
 */
export class FaultPlan {
  private readonly random: Random;
  private readonly slowRandom: Random;

  constructor(
    seed: number,
    public rate: number,
  ) {
    this.random = new Random(seed);
    this.slowRandom = this.random.fork(0x510);
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
 * Adds the faults to a client: one middleware outside the retry loop holds slow writes back,
 * decides per call, and raises surfaced faults itself; one inside it raises the retried ones, on
 * the first attempt only.
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
      const delay = plan.delayMs(service, command, (args as { input?: unknown }).input);
      if (delay > 0) {
        hooks.onDelay?.(delay);
        await sleep(delay);
      }
      const fault = plan.decide(service, command);
      if (fault?.retried) context[pending] = fault;
      else if (fault) return raise(fault, next, args);
      const result = await next(args);
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
