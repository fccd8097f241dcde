/**
 * The local twin of a Lambda SQS event source mapping with `ReportBatchItemFailures`: receive a
 * batch, invoke the function with an SQS event, delete what succeeded and leave the rest to come
 * back after the visibility timeout (and to the DLQ after maxReceiveCount receives, which
 * local-aws-sqs does itself from the queue's RedrivePolicy).
 *
 * Deviations from Lambda, and why:
 * - A FIFO queue gets one batch in flight at a time, for all message groups together. Lambda
 *   runs different groups in parallel, but local-aws-sqs hands out a group's next message while
 *   an earlier one is still in flight, so parallel batches could reorder one rollout's commands.
 * - A standard queue runs at most `concurrency` batches at once; Lambda scales pollers with the
 *   backlog.
 * - Receives never long-poll. local-aws-sqs answers a long poll only when the batch is full or
 *   the wait is over (AWS answers as soon as messages arrive), and a wait longer than the
 *   visibility timeout can hand out the same message twice in one batch. Short receives keep
 *   stop() fast; while the queue stays empty the pause between them grows from 100 ms to 1 s, so
 *   an idle host costs little CPU, and a send through the host's clients (`wakeOnSend`) ends the
 *   pause at once. A message that becomes visible later (a delay, a visibility timeout) waits at
 *   most the pause.
 *
 * A test-only fault can be switched on (`redelivery`, from `HostOptions.redelivery`): every batch
 * is invoked again, as SQS's at-least-once delivery allows, sometimes with its records reversed
 * and sometimes later, after newer messages of the queue went through. Off, nothing changes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  type Message,
  type MessageAttributeValue,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSMessageAttributes, SQSRecord, SQSRecordAttributes } from 'aws-lambda';
import type { QueueTrigger } from '../manifest';
import { region } from './aws-identity';
import type { QueueEndpoint } from './emulators';
import { invoke, type LoadedFunction } from './lambda-runtime';
import type { Logger } from './logger';

/** Pause between receives once the queue is found empty, doubled while it stays empty, up to the most. */
const idlePollMs = 100;
const idlePollMaxMs = 1000;
/** SQS returns and deletes at most ten messages per call. */
const maxPerCall = 10;

/**
 * Further deliveries of one batch the function has just been invoked with: each copy's records
 * (the batch's, reordered or a subset, never new ones) and how long after the first delivery it
 * comes. A test-only fault of the embedded host (the chaos run); production hosts never set it.
 */
export interface Redelivery {
  copies(records: readonly SQSRecord[], queue: string): { records: SQSRecord[]; afterMs: number }[];
}

export interface SqsPollerOptions {
  fn: LoadedFunction;
  trigger: QueueTrigger;
  queue: QueueEndpoint;
  /** Batches in flight at once on a standard queue; a FIFO queue always gets one. */
  concurrency: number;
  sqs: SQSClient;
  logger: Logger;
  redelivery?: Redelivery;
}

export interface SqsPoller {
  /** The queue it receives from. */
  readonly queueUrl: string;
  /** A message was sent to the queue: receive now, not after the idle pause. */
  wake(): void;
  /** Stops receiving and resolves once the batches in flight have been invoked and settled. */
  stop(): Promise<void>;
}

/**
 * Wakes the pollers of the queues `client` sends to, after each send that succeeded: what a
 * handler (or the scheduler twin) sends is received at once however long the queue was idle.
 * Returns what takes the wake-ups off the client again (a host that stops).
 */
export function wakeOnSend(client: SQSClient, pollers: readonly SqsPoller[]): () => void {
  const sends = new Set(['SendMessageCommand', 'SendMessageBatchCommand']);
  const name = `wakeSqsPollers-${++wakers}`;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      const url = (args.input as { QueueUrl?: string }).QueueUrl;
      if (sends.has(String(context.commandName))) for (const poller of pollers) if (poller.queueUrl === url) poller.wake();
      return result;
    },
    { step: 'initialize', name },
  );
  return () => void client.middlewareStack.remove(name);
}
let wakers = 0;

/** Rejects a trigger that Lambda would refuse to create, so the local wiring cannot drift. */
function validateTrigger(trigger: QueueTrigger, queue: QueueEndpoint): void {
  const where = `trigger on ${queue.name}`;
  const window = trigger.maxBatchingWindowSeconds ?? 0;
  if (queue.fifo && window > 0) throw new Error(`${where}: FIFO queues take no batching window`);
  if (window < 0 || window > 300) throw new Error(`${where}: maxBatchingWindowSeconds must be 0..300`);
  const limit = queue.fifo ? 10 : window > 0 ? 10_000 : 10;
  if (!Number.isInteger(trigger.batchSize) || trigger.batchSize < 1 || trigger.batchSize > limit) {
    throw new Error(`${where}: batchSize must be 1..${limit}${queue.fifo || window > 0 ? '' : ' without a batching window'}`);
  }
}

function toLambdaAttributes(attributes: Record<string, MessageAttributeValue> | undefined): SQSMessageAttributes {
  const converted: SQSMessageAttributes = {};
  for (const [name, value] of Object.entries(attributes ?? {})) {
    converted[name] = {
      dataType: value.DataType ?? 'String',
      ...(value.StringValue !== undefined && { stringValue: value.StringValue }),
      ...(value.BinaryValue !== undefined && { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }),
      stringListValues: value.StringListValues ?? [],
      binaryListValues: (value.BinaryListValues ?? []).map((item) => Buffer.from(item).toString('base64')),
    };
  }
  return converted;
}

function toRecord(message: Message, queue: QueueEndpoint): SQSRecord {
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: (message.Attributes ?? {}) as unknown as SQSRecordAttributes,
    messageAttributes: toLambdaAttributes(message.MessageAttributes),
    md5OfBody: message.MD5OfBody ?? '',
    ...(message.MD5OfMessageAttributes !== undefined && { md5OfMessageAttributes: message.MD5OfMessageAttributes }),
    eventSource: 'aws:sqs',
    eventSourceARN: queue.arn,
    awsRegion: region,
  };
}

/**
 * The message ids to keep, read from the function's result as Lambda reads a partial batch
 * response: no result or no `batchItemFailures` means all succeeded; an identifier that is
 * missing, empty or not in the batch makes the whole batch fail.
 */
function failedMessageIds(result: unknown, records: SQSRecord[]): Set<string> {
  const all = new Set(records.map((record) => record.messageId));
  if (typeof result !== 'object' || result === null) return new Set();
  const failures = (result as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return new Set();
  if (!Array.isArray(failures)) return all;
  const failed = new Set<string>();
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || !all.has(id)) return all;
    failed.add(id);
  }
  return failed;
}

export function startSqsPoller(options: SqsPollerOptions): SqsPoller {
  const { fn, trigger, queue, sqs } = options;
  validateTrigger(trigger, queue);
  const logger = options.logger;
  const maxInFlight = queue.fifo ? 1 : Math.max(1, options.concurrency);
  const windowMs = (trigger.maxBatchingWindowSeconds ?? 0) * 1000;
  const stopping = new AbortController();
  const inFlight = new Set<Promise<void>>();
  /** Delayed copies of the redelivery fault: awaited by stop(), but they hold no batch slot. */
  const copiesLater = new Set<Promise<void>>();

  /** Sleeps, waking early when the poller stops. */
  const pause = (ms: number) => sleep(ms, undefined, { signal: stopping.signal }).catch(() => undefined);

  /** The idle pause: ended early by `wake` (a send) or by stop; a wake while receiving skips the next one. */
  let idleMs = idlePollMs;
  let woken = false;
  let endIdle: (() => void) | undefined;
  function wake(): void {
    woken = true;
    idleMs = idlePollMs;
    endIdle?.();
  }
  async function idle(): Promise<void> {
    if (woken) {
      woken = false;
      return;
    }
    const ended = new AbortController();
    endIdle = () => ended.abort();
    await sleep(idleMs, undefined, { signal: AbortSignal.any([stopping.signal, ended.signal]) }).catch(() => undefined);
    endIdle = undefined;
    if (!woken) idleMs = Math.min(idlePollMaxMs, idleMs * 2);
    woken = false;
  }

  async function receive(max: number): Promise<Message[]> {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queue.url,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: 0,
        // local-aws-sqs returns system attributes only for the older AttributeNames parameter;
        // AWS honours either, so both are sent.
        AttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    return Messages;
  }

  /** One batch: at least one message, then more until the batch is full or the window closes. */
  async function gather(): Promise<Message[]> {
    const batch: Message[] = [];
    let windowCloses: number | undefined;
    while (!stopping.signal.aborted) {
      const received = await receive(Math.min(maxPerCall, trigger.batchSize - batch.length));
      if (received.length > 0) idleMs = idlePollMs;
      batch.push(...received);
      if (batch.length >= trigger.batchSize) break;
      if (batch.length > 0) {
        windowCloses ??= Date.now() + windowMs;
        if (Date.now() >= windowCloses) break;
      }
      // Within a batching window the wait is the window's: a short pause, not the idle one.
      if (received.length === 0) await (batch.length > 0 ? pause(idlePollMs) : idle());
    }
    return batch;
  }

  async function remove(records: SQSRecord[]): Promise<void> {
    for (let i = 0; i < records.length; i += maxPerCall) {
      const chunk = records.slice(i, i + maxPerCall);
      const { Failed = [] } = await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queue.url,
          Entries: chunk.map((record, index) => ({ Id: String(index), ReceiptHandle: record.receiptHandle })),
        }),
      );
      if (Failed.length > 0) {
        logger.warn(`could not delete ${Failed.length} message(s) from ${queue.name}; they will be delivered again`, {
          failed: Failed,
        });
      }
    }
  }

  /**
   * The redelivery fault: the batch's copies, the immediate ones at once (before the batch is
   * deleted, like a second receive within the visibility timeout), the later ones in the
   * background. A copy's outcome is ignored: the messages' fate is the first delivery's.
   */
  async function redeliver(records: SQSRecord[]): Promise<void> {
    for (const copy of options.redelivery?.copies(records, queue.name) ?? []) {
      const again = () => invoke(fn, { Records: copy.records } satisfies SQSEvent, logger).then(() => undefined, () => undefined);
      if (copy.afterMs <= 0) {
        await again();
        continue;
      }
      const later: Promise<void> = pause(copy.afterMs)
        .then(() => (stopping.signal.aborted ? undefined : again()))
        .finally(() => copiesLater.delete(later));
      copiesLater.add(later);
    }
  }

  /** Invokes the function with one batch and settles it; never rejects. */
  async function deliver(messages: Message[]): Promise<void> {
    const records = messages.map((message) => toRecord(message, queue));
    const event: SQSEvent = { Records: records };
    let failed: Set<string>;
    try {
      failed = failedMessageIds(await invoke(fn, event, logger), records);
    } catch {
      logger.warn(`${fn.name} failed on ${records.length} message(s) from ${queue.name}; they return after the visibility timeout`);
      return;
    } finally {
      if (options.redelivery) await redeliver(records);
    }
    if (failed.size > 0) {
      logger.info(`${fn.name} reported ${failed.size} of ${records.length} message(s) from ${queue.name} as failed`);
    }
    try {
      await remove(records.filter((record) => !failed.has(record.messageId)));
    } catch (error) {
      logger.warn(`could not delete processed messages from ${queue.name}; they will be delivered again`, { error });
    }
  }

  const loop = (async () => {
    let consecutiveErrors = 0;
    while (!stopping.signal.aborted) {
      if (inFlight.size >= maxInFlight) {
        await Promise.race(inFlight);
        continue;
      }
      let messages: Message[];
      try {
        messages = await gather();
        consecutiveErrors = 0;
      } catch (error) {
        consecutiveErrors++;
        logger.warn(`receiving from ${queue.name} failed; retrying`, { error });
        await pause(Math.min(5000, 100 * 2 ** consecutiveErrors));
        continue;
      }
      // A batch gathered while stopping is still delivered: its messages are already in flight.
      if (messages.length === 0) continue;
      const delivery: Promise<void> = deliver(messages).finally(() => inFlight.delete(delivery));
      inFlight.add(delivery);
    }
  })();

  let stopped: Promise<void> | undefined;
  return {
    queueUrl: queue.url,
    wake,
    stop() {
      stopped ??= (async () => {
        stopping.abort();
        await loop;
        await Promise.all(inFlight);
        await Promise.all(copiesLater);
      })();
      return stopped;
    },
  };
}
