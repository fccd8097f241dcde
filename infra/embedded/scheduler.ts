/**
 * The local twin of EventBridge Scheduler, for one-time schedules with an SQS target: enough of
 * its REST-JSON API for the SDK v3 client (`CreateSchedule`, `GetSchedule`, `DeleteSchedule`),
 * reached through `AWS_ENDPOINT_URL_SCHEDULER`. Each schedule's `at(…)` time fires a SendMessage
 * of its `Input` to its target queue, then, with `ActionAfterCompletion: DELETE`, deletes it.
 *
 * Deviations from AWS, and why they are harmless here:
 * - Schedules live in memory and are lost when the host stops; the tick finds the due work they
 *   would have woken (as on LocalStack, whose Scheduler accepts schedules but never fires them).
 * - Only `at()` expressions in UTC, with `FlexibleTimeWindow` OFF: all this project creates.
 * - A failed delivery is retried three times, a second apart, then logged (AWS retries for up to
 *   a day and has no dead-letter queue configured here either).
 * - Names, groups and role ARNs are checked for presence, not against IAM.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { accountId, region } from './aws-identity';
import type { Logger } from './logger';
import { nowMs, onClockMove } from '../../lib/clock';

export interface SchedulerTwinOptions {
  /** The schedule groups that exist (`default` always does). */
  groups: readonly string[];
  /** Queue ARN → queue URL: the targets schedules may send to. */
  queues: ReadonlyMap<string, string>;
  sqs: SQSClient;
  logger: Logger;
}

export interface SchedulerTwin {
  endpoint: string;
  /** Schedules waiting to fire, as `group/name`. */
  pending(): string[];
  /** Stops firing (pending schedules are dropped) and closes the server. */
  close(): Promise<void>;
}

interface Schedule {
  name: string;
  group: string;
  arn: string;
  fireAt: number;
  request: CreateScheduleRequest;
  created: number;
  timer?: NodeJS.Timeout;
  /** Fired already (a schedule kept after completion is not fired again). */
  fired?: boolean;
}

interface CreateScheduleRequest {
  ScheduleExpression?: string;
  ScheduleExpressionTimezone?: string;
  FlexibleTimeWindow?: { Mode?: string; MaximumWindowInMinutes?: number };
  ActionAfterCompletion?: string;
  GroupName?: string;
  Description?: string;
  State?: string;
  Target?: { Arn?: string; RoleArn?: string; Input?: string; SqsParameters?: { MessageGroupId?: string } };
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

const atPattern = /^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$/;
/** setTimeout takes at most 2^31 - 1 ms (about 24.8 days); longer waits are chained. */
const maxTimerMs = 2 ** 31 - 1;
const deliveryAttempts = 4;

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(400, 'ValidationException', 'request body is not JSON');
  }
}

function send(response: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
  });
  response.end(text);
}

export async function startSchedulerTwin(options: SchedulerTwinOptions): Promise<SchedulerTwin> {
  const { logger, sqs } = options;
  const groups = new Set(['default', ...options.groups]);
  const schedules = new Map<string, Schedule>();
  const deliveries = new Set<Promise<void>>();
  let closing = false;

  const keyOf = (group: string, name: string) => `${group}/${name}`;
  const arnOf = (group: string, name: string) => `arn:aws:scheduler:${region}:${accountId}:schedule/${group}/${name}`;

  function arm(schedule: Schedule): void {
    const wait = Math.max(0, schedule.fireAt - nowMs());
    schedule.timer = setTimeout(() => (wait > maxTimerMs ? arm(schedule) : fire(schedule)), Math.min(wait, maxTimerMs));
  }

  // A test that moves the clock forward makes schedules due now rather than at their wall-clock time.
  const stopFollowingClock = onClockMove(() => {
    for (const schedule of schedules.values()) {
      if (!schedule.timer || schedule.fired) continue;
      clearTimeout(schedule.timer);
      arm(schedule);
    }
  });

  function fire(schedule: Schedule): void {
    schedule.fired = true;
    const delivery: Promise<void> = deliver(schedule).finally(() => deliveries.delete(delivery));
    deliveries.add(delivery);
  }

  async function deliver(schedule: Schedule): Promise<void> {
    const target = schedule.request.Target!;
    const url = options.queues.get(target.Arn!);
    for (let attempt = 1; url && attempt <= deliveryAttempts && !closing; attempt++) {
      try {
        await sqs.send(
          new SendMessageCommand({
            QueueUrl: url,
            MessageBody: target.Input ?? '{}',
            ...(target.SqsParameters?.MessageGroupId ? { MessageGroupId: target.SqsParameters.MessageGroupId } : {}),
          }),
        );
        logger.debug('schedule fired', { schedule: keyOf(schedule.group, schedule.name), lateMs: nowMs() - schedule.fireAt });
        break;
      } catch (error) {
        if (attempt === deliveryAttempts) logger.error('schedule could not deliver to its target', { schedule: schedule.name, error });
        else await new Promise((wake) => setTimeout(wake, 1000));
      }
    }
    if (!url) logger.error('schedule targets a queue this host does not have', { schedule: schedule.name, target: target.Arn });
    // A one-time schedule fires once; DELETE removes it, NONE leaves it there, done.
    if (schedule.request.ActionAfterCompletion === 'DELETE' && schedules.get(keyOf(schedule.group, schedule.name)) === schedule) {
      schedules.delete(keyOf(schedule.group, schedule.name));
    }
  }

  function create(name: string, body: CreateScheduleRequest): { ScheduleArn: string } {
    const group = body.GroupName ?? 'default';
    if (!groups.has(group)) throw new ApiError(404, 'ResourceNotFoundException', `Schedule group ${group} does not exist.`);
    const at = atPattern.exec(body.ScheduleExpression ?? '');
    if (!at) throw new ApiError(400, 'ValidationException', `this twin takes only at(yyyy-mm-ddThh:mm:ss) expressions, got ${body.ScheduleExpression}`);
    if ((body.ScheduleExpressionTimezone ?? 'UTC') !== 'UTC') throw new ApiError(400, 'ValidationException', 'this twin takes only UTC schedules');
    if (!body.FlexibleTimeWindow?.Mode) throw new ApiError(400, 'ValidationException', 'FlexibleTimeWindow is required');
    if (body.FlexibleTimeWindow.Mode !== 'OFF') throw new ApiError(400, 'ValidationException', 'this twin takes only FlexibleTimeWindow OFF');
    if (!body.Target?.Arn || !body.Target.RoleArn) throw new ApiError(400, 'ValidationException', 'Target.Arn and Target.RoleArn are required');
    const key = keyOf(group, name);
    if (schedules.has(key)) throw new ApiError(409, 'ConflictException', `Schedule ${name} already exists.`);
    const schedule: Schedule = { name, group, arn: arnOf(group, name), fireAt: Date.parse(`${at[1]}Z`), request: body, created: Date.now() };
    schedules.set(key, schedule);
    if (body.State !== 'DISABLED') arm(schedule);
    return { ScheduleArn: schedule.arn };
  }

  function find(name: string, group: string): Schedule {
    const schedule = schedules.get(keyOf(group, name));
    if (!schedule) throw new ApiError(404, 'ResourceNotFoundException', `Schedule ${name} does not exist.`);
    return schedule;
  }

  const server = createServer((request, response) => {
    void (async () => {
      try {
        const url = new URL(request.url ?? '/', 'http://scheduler');
        const match = /^\/schedules\/([^/]+)$/.exec(url.pathname);
        if (!match) throw new ApiError(404, 'UnknownOperationException', `${request.method} ${url.pathname} is not implemented by the embedded scheduler`);
        const name = decodeURIComponent(match[1]!);
        const group = url.searchParams.get('groupName') ?? 'default';
        if (request.method === 'POST') {
          send(response, 200, create(name, (await readJson(request)) as CreateScheduleRequest));
        } else if (request.method === 'GET') {
          const s = find(name, group);
          send(response, 200, {
            Arn: s.arn,
            Name: s.name,
            GroupName: s.group,
            ScheduleExpression: s.request.ScheduleExpression,
            ScheduleExpressionTimezone: s.request.ScheduleExpressionTimezone ?? 'UTC',
            FlexibleTimeWindow: s.request.FlexibleTimeWindow,
            ActionAfterCompletion: s.request.ActionAfterCompletion ?? 'NONE',
            State: s.request.State ?? 'ENABLED',
            Target: s.request.Target,
            ...(s.request.Description ? { Description: s.request.Description } : {}),
            CreationDate: s.created / 1000,
            LastModificationDate: s.created / 1000,
          });
        } else if (request.method === 'DELETE') {
          const s = find(name, group);
          clearTimeout(s.timer);
          schedules.delete(keyOf(group, name));
          send(response, 200, {});
        } else {
          throw new ApiError(405, 'UnknownOperationException', `${request.method} is not implemented by the embedded scheduler`);
        }
      } catch (error) {
        const api = error instanceof ApiError ? error : new ApiError(500, 'InternalServerException', String(error));
        if (api.status === 500) logger.error('embedded scheduler failed', { error });
        send(response, api.status, { Message: api.message }, api.type);
      }
    })();
  });
  await new Promise<void>((ready, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => ready());
  });

  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    pending: () => [...schedules.keys()],
    async close() {
      closing = true;
      stopFollowingClock();
      for (const schedule of schedules.values()) clearTimeout(schedule.timer);
      schedules.clear();
      await Promise.all(deliveries);
      await new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      });
    },
  };
}
