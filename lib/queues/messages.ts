/** The messages that travel on the queues, their schemas, and how they are sent. */
import { createHash, randomUUID } from 'node:crypto';
import { ConflictException, CreateScheduleCommand } from '@aws-sdk/client-scheduler';
import { SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { scheduler, sqs } from '../aws-clients';
import { queueUrl, scheduleSettings } from '../config';
import { deviceRolloutStatuses } from '../domain/types';
import { maxDelaySeconds, wakeUpRoute } from './wake-up';

const startKey = z.record(z.string(), z.unknown()).optional();

export const orchestrationCommand = z.discriminatedUnion('type', [
  /** Record one page of the rollout's devices, then ask for the next page (or finish planning). */
  z.object({ type: z.literal('plan'), rollout_id: z.string(), seq: z.number().int().min(0), start_key: startKey }),
  /**
   * Look at the rollout and take whatever step is due. `due_at`: sent by a wake-up for that due
   * time, so an evaluation that finds it still ahead (the wake-up came early) sends another.
   */
  z.object({ type: z.literal('evaluate'), rollout_id: z.string(), reason: z.string(), due_at: z.iso.datetime().optional() }),
  /**
   * A device's app that was not planned into the rollout (registered since, or newly matching its
   * selector) joins it, in the rollout's message group so that joiners are numbered one at a time.
   */
  z.object({ type: z.literal('join'), rollout_id: z.string(), device_uuid: z.string(), app: z.string(), requested_at: z.iso.datetime() }),
]);
export type OrchestrationCommand = z.infer<typeof orchestrationCommand>;

const setTargetsCommand = z.object({
  type: z.literal('set_targets'),
  rollout_id: z.string(),
  batch: z.number().int().min(1),
  shard: z.number().int().min(0),
  start_key: startKey,
});
export type SetTargetsCommand = z.infer<typeof setTargetsCommand>;

/** A paced batch's scheduler (lib/rollouts/pacing.ts): one at a time per rollout, by a lease. */
const schedulePacedCommand = z.object({
  type: z.literal('schedule_paced'),
  rollout_id: z.string(),
  batch: z.number().int().min(1),
  /** The lease its sender held and hands on; absent on a new request, whose message id is then its token. */
  token: z.string().optional(),
  /** Go through the batch again from its start if the last pass had got to its end (batch-advance's fallback). */
  rescan: z.boolean().optional(),
});
export type SchedulePacedCommand = z.infer<typeof schedulePacedCommand>;

/**
 * Paced devices to look at: those of the range still scheduled past their update timeout fail, and
 * failed ones are rolled back at once when the budget waits on them; then the scheduler is woken.
 * Sent delayed by the scheduler for each range it schedules, and by a device's report.
 */
const checkPacedCommand = z.object({
  type: z.literal('check_paced'),
  rollout_id: z.string(),
  batch: z.number().int().min(1),
  shard: z.number().int().min(0),
  first_seq: z.number().int().min(0),
  size: z.number().int().min(1),
  /** From a device's report: look once, without coming back for rows still on their way. */
  settled: z.boolean().optional(),
});
export type CheckPacedCommand = z.infer<typeof checkPacedCommand>;

export const targetCommand = z.discriminatedUnion('type', [setTargetsCommand, schedulePacedCommand, checkPacedCommand]);
export type TargetCommand = z.infer<typeof targetCommand>;

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
  from: z.array(z.enum(deviceRolloutStatuses)),
  /** What a device that had been given the new image becomes; one never reached becomes `skipped`. */
  to: z.enum(['rolled_back', 'skipped']),
  reason: z.string(),
  /** A newer push superseded the rollout: rows end, but targets stay for the newer rollout to move on. */
  hand_over: z.boolean().optional(),
  /** The ending (the rollout's status) whose sweep this is: a shard found clean is noted for it. */
  sweep: z.enum(['completed', 'cancelled', 'rolled_back', 'failed']).optional(),
  /** Devices this pass over the shard has found still to revert, on the pages before this one. */
  found: z.number().int().min(0).optional(),
  start_key: startKey,
});
export type RevertCommand = z.infer<typeof revertCommand>;

export const tickMessage = z.object({ type: z.literal('tick'), sent_at: z.string() });
export type TickMessage = z.infer<typeof tickMessage>;

/** A rollout has something due at `due_at`: sent delayed (or by a one-time schedule) to arrive then. */
export const wakeMessage = z.object({ type: z.literal('wake'), rollout_id: z.string(), due_at: z.iso.datetime() });
export type WakeMessage = z.infer<typeof wakeMessage>;

/** What the monitor consumes: ticks from the tick queue, wake-ups from the wake queue. */
export const monitorMessage = z.discriminatedUnion('type', [tickMessage, wakeMessage]);

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
      : command.type === 'join'
        ? `join-${command.device_uuid}-${command.app}-${command.requested_at}`
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

export const sendTargetCommands = (commands: TargetCommand[]) => sendAll('targets', commands);

/** One target command, delayed (whole seconds, at most SQS's 15 minutes). */
export async function sendTargetCommandLater(command: TargetCommand, delaySeconds: number): Promise<void> {
  await sqs().send(
    new SendMessageCommand({ QueueUrl: queueUrl('targets'), MessageBody: JSON.stringify(command), DelaySeconds: Math.min(maxDelaySeconds, Math.max(0, Math.ceil(delaySeconds))) }),
  );
}
export const sendHealthCommands = (commands: HealthCommand[]) => sendAll('health', commands);
export const sendRevertCommands = (commands: RevertCommand[]) => sendAll('rollback', commands);

async function sendAll(queue: 'targets' | 'health' | 'rollback', commands: { type: string }[]): Promise<void> {
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

/**
 * Wakes the rollout at `dueAt`: a delayed message on the wake queue up to 15 minutes ahead, a
 * one-time schedule sending the same message beyond (`maxDelay` lowers the threshold for tests).
 * The schedule's name comes from the rollout and the due time, so sending the same wake-up again
 * finds the schedule already there. Neither path is exact to the millisecond, nor must it be: the
 * evaluation it leads to is version-checked, and the tick still finds whatever a lost wake-up missed.
 */
export async function sendWakeUp(rolloutId: string, dueAt: string, now: Date, maxDelay: number = maxDelaySeconds): Promise<void> {
  const message: WakeMessage = { type: 'wake', rollout_id: rolloutId, due_at: new Date(dueAt).toISOString() };
  const route = wakeUpRoute(message.due_at, now, maxDelay);
  if (route.via === 'delay') {
    await sqs().send(new SendMessageCommand({ QueueUrl: queueUrl('wake'), MessageBody: JSON.stringify(message), DelaySeconds: route.delaySeconds }));
    return;
  }
  const { groupName, roleArn, targetArn } = scheduleSettings();
  try {
    await scheduler().send(
      new CreateScheduleCommand({
        Name: wakeUpScheduleName(rolloutId, message.due_at),
        GroupName: groupName,
        ScheduleExpression: `at(${route.at})`,
        ScheduleExpressionTimezone: 'UTC',
        FlexibleTimeWindow: { Mode: 'OFF' },
        ActionAfterCompletion: 'DELETE',
        Target: { Arn: targetArn, RoleArn: roleArn, Input: JSON.stringify(message) },
        Description: `wakes rollout ${rolloutId} at ${message.due_at}`,
      }),
    );
  } catch (error) {
    // Created by an earlier attempt at this same wake-up.
    if (!(error instanceof ConflictException)) throw error;
  }
}

/** Schedule names take 1-64 of [0-9a-zA-Z-_.]; the readable form fits rollout ids as they are made today. */
export function wakeUpScheduleName(rolloutId: string, dueAt: string): string {
  const readable = `wake-${rolloutId}-${dueAt.replace(/[-:]/g, '').replace('Z', '')}`;
  return readable.length <= 64 && /^[0-9a-zA-Z_.-]+$/.test(readable) ? readable : `wake-${digest(`${rolloutId}|${dueAt}`)}`;
}
