/**
 * Runs an SQS batch record by record and reports partial failures, so one poisoned message never
 * blocks the others. On a FIFO queue, once a record of a message group fails, the later records of
 * that group are failed too: processing them out of order would break the group's sequence.
 */
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { z } from 'zod';
import { correlationKeys, lambdaHandler } from '../lambda';
import { logger, withLogKeys } from '../logger';
import { Budget, noDeadline } from './budget';

/** `budget`: the invocation's time left, shared by the batch's records. */
type Handle<T> = (message: T, record: SQSRecord, budget: Budget) => Promise<void>;

/** A queue-triggered function: each record parsed with `schema` and handled by `handle`. */
export function sqsHandler<T>(schema: z.ZodType<T>, handle: Handle<T>) {
  return lambdaHandler<SQSEvent, SQSBatchResponse>().handler((event, context: Context) =>
    consumeRecords(event, schema, handle, new Budget(() => context.getRemainingTimeInMillis())),
  );
}

function parse<T>(record: SQSRecord, schema: z.ZodType<T>): { message: T } | { problem: string } {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    return { problem: 'malformed message: body is not JSON' };
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) return { problem: `malformed message: ${parsed.error.issues.map((i) => i.message).join('; ')}` };
  return { message: parsed.data };
}

export async function consumeRecords<T>(event: SQSEvent, schema: z.ZodType<T>, handle: Handle<T>, budget: Budget = noDeadline): Promise<SQSBatchResponse> {
  const failures: SQSBatchResponse['batchItemFailures'] = [];
  const failedGroups = new Set<string>();
  for (const record of event.Records) {
    const group = record.attributes?.MessageGroupId;
    if (group && failedGroups.has(group)) {
      failures.push({ itemIdentifier: record.messageId });
      continue;
    }
    const parsed = parse(record, schema);
    // The record's rollout and device are on every line its handling logs, and on none after.
    const keys = 'message' in parsed ? correlationKeys(parsed.message as Record<string, unknown>) : {};
    await withLogKeys(keys, async () => {
      try {
        // A malformed message will never succeed; let it go to the dead-letter queue.
        if ('problem' in parsed) throw new Error(parsed.problem);
        await handle(parsed.message, record, budget);
      } catch (error) {
        logger.error('message failed', { messageId: record.messageId, error });
        failures.push({ itemIdentifier: record.messageId });
        if (group) failedGroups.add(group);
      }
    });
  }
  return { batchItemFailures: failures };
}

/** How many times SQS has delivered the record, this delivery included. */
export function receiveCountOf(record: SQSRecord): number {
  return Number(record.attributes?.ApproximateReceiveCount ?? 1);
}

/**
 * A queue-triggered function whose records are independent and wait on something outside (a
 * notification receiver): the batch's records run at once, so one slow record holds up none of
 * the others. Standard queues only: nothing here keeps a message group's order.
 */
export function concurrentSqsHandler<T>(schema: z.ZodType<T>, handle: Handle<T>) {
  return lambdaHandler<SQSEvent, SQSBatchResponse>().handler(async (event, context: Context) => {
    const budget = new Budget(() => context.getRemainingTimeInMillis());
    const results = await Promise.all(event.Records.map((record) => consumeRecords({ Records: [record] }, schema, handle, budget)));
    return { batchItemFailures: results.flatMap((result) => result.batchItemFailures) };
  });
}
