/**
 * Runs an SQS batch record by record and reports partial failures, so one poisoned message never
 * blocks the others. On a FIFO queue, once a record of a message group fails, the later records of
 * that group are failed too: processing them out of order would break the group's sequence.
 */
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { z } from 'zod';
import { logger } from '../logger';

export async function consumeRecords<T>(
  event: SQSEvent,
  schema: z.ZodType<T>,
  handle: (message: T, record: SQSRecord) => Promise<void>,
): Promise<SQSBatchResponse> {
  const failures: SQSBatchResponse['batchItemFailures'] = [];
  const failedGroups = new Set<string>();
  for (const record of event.Records) {
    const group = record.attributes?.MessageGroupId;
    if (group && failedGroups.has(group)) {
      failures.push({ itemIdentifier: record.messageId });
      continue;
    }
    try {
      const parsed = schema.safeParse(JSON.parse(record.body));
      if (!parsed.success) {
        // A malformed message will never succeed; let it go to the dead-letter queue.
        throw new Error(`malformed message: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
      }
      await handle(parsed.data, record);
    } catch (error) {
      logger.error('message failed', { messageId: record.messageId, error });
      failures.push({ itemIdentifier: record.messageId });
      if (group) failedGroups.add(group);
    }
  }
  return { batchItemFailures: failures };
}

/** Whether this is the last delivery before the queue moves the message to its dead-letter queue. */
export function isFinalDelivery(record: SQSRecord, maxReceiveCount: number): boolean {
  return Number(record.attributes?.ApproximateReceiveCount ?? 1) >= maxReceiveCount;
}
