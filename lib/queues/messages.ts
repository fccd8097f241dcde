/** The messages that travel on the queues, their schemas, and how they are sent. */
import { createHash, randomUUID } from 'node:crypto';
import { SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { sqs } from '../aws-clients';
import { queueUrl } from '../config';
import { deviceRolloutStatuses } from '../domain/types';

const startKey = z.record(z.string(), z.unknown()).optional();

export const orchestrationCommand = z.discriminatedUnion('type', [
  /** Record one page of the rollout's devices, then ask for the next page (or finish planning). */
  z.object({ type: z.literal('plan'), rollout_id: z.string(), seq: z.number().int().min(0), start_key: startKey }),
  /** Look at the rollout and take whatever step is due. */
  z.object({ type: z.literal('evaluate'), rollout_id: z.string(), reason: z.string() }),
]);
export type OrchestrationCommand = z.infer<typeof orchestrationCommand>;

export const scheduleCommand = z.object({
  type: z.literal('schedule_shard'),
  rollout_id: z.string(),
  batch: z.number().int().min(1),
  shard: z.number().int().min(0),
  start_key: startKey,
});
export type ScheduleCommand = z.infer<typeof scheduleCommand>;

export const healthCommand = z.object({
  type: z.literal('check_health'),
  rollout_id: z.string(),
  batch: z.number().int().min(1),
  shard: z.number().int().min(0),
  start_key: startKey,
});
export type HealthCommand = z.infer<typeof healthCommand>;

export const revertCommand = z.object({
  type: z.literal('revert_devices'),
  rollout_id: z.string(),
  shard: z.number().int().min(0),
  /** Only this batch's devices; all of the rollout's when absent. */
  batch: z.number().int().min(1).optional(),
  /** Devices in these statuses are put back on their previous image. */
  from: z.array(z.enum(deviceRolloutStatuses)).min(1),
  /** What a device that had been given the new image becomes; one never reached becomes `skipped`. */
  to: z.enum(['rolled_back', 'skipped']),
  reason: z.string(),
  /** A newer push superseded the rollout: rows end, but targets stay for the newer rollout to move on. */
  hand_over: z.boolean().optional(),
  start_key: startKey,
});
export type RevertCommand = z.infer<typeof revertCommand>;

export const tickMessage = z.object({ type: z.literal('tick'), sent_at: z.string() });
export type TickMessage = z.infer<typeof tickMessage>;

function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value ?? null)).digest('hex').slice(0, 32);
}

/**
 * Sends a rollout command to the FIFO queue, grouped by rollout. The de-duplication id says what
 * the command is about, so the same command sent twice within SQS's five-minute window runs once;
 * `dedupeKey` distinguishes commands that may legitimately repeat (an evaluation per trigger).
 */
export async function sendOrchestration(command: OrchestrationCommand, dedupeKey?: string): Promise<void> {
  const dedupe =
    command.type === 'plan'
      ? `plan-${command.seq}-${digest(command.start_key)}`
      : `evaluate-${dedupeKey ?? randomUUID()}`;
  await sqs().send(
    new SendMessageCommand({
      QueueUrl: queueUrl('orchestration'),
      MessageBody: JSON.stringify(command),
      MessageGroupId: command.rollout_id,
      MessageDeduplicationId: digest(`${command.rollout_id}|${dedupe}`),
    }),
  );
}

export const sendScheduleCommands = (commands: ScheduleCommand[]) => sendAll('schedule', commands);
export const sendHealthCommands = (commands: HealthCommand[]) => sendAll('health', commands);
export const sendRevertCommands = (commands: RevertCommand[]) => sendAll('rollback', commands);

async function sendAll(queue: 'schedule' | 'health' | 'rollback', commands: { type: string }[]): Promise<void> {
  for (let i = 0; i < commands.length; i += 10) {
    const chunk = commands.slice(i, i + 10);
    const result = await sqs().send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl(queue),
        Entries: chunk.map((command, n) => ({ Id: String(n), MessageBody: JSON.stringify(command) })),
      }),
    );
    if (result.Failed && result.Failed.length > 0) {
      throw new Error(`could not queue ${result.Failed.length} ${queue} commands: ${result.Failed[0]!.Message}`);
    }
  }
}

export async function sendTick(delaySeconds: number, sentAt: string): Promise<void> {
  const message: TickMessage = { type: 'tick', sent_at: sentAt };
  await sqs().send(
    new SendMessageCommand({
      QueueUrl: queueUrl('tick'),
      MessageBody: JSON.stringify(message),
      DelaySeconds: Math.min(900, Math.max(0, Math.round(delaySeconds))),
    }),
  );
}
