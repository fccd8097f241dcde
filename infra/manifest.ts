/**
 * The wiring of the whole system, declared once.
 *
 * Every host reads this: the embedded host starts its HTTP routes, SQS pollers and tick from it,
 * and the CDK stack is generated from it. A function, route, queue or once-a-minute rule that is
 * not here does not exist on any host.
 */
import { queueUrlEnv, type Grants, type RegistrySecretAccess, type SecretName, type TableAccess } from '../lib/environment';
import { orchestrationMaxReceiveCount, type QueueName } from '../lib/queues/names';
import type { RouteAuth } from './route-auth';

export { queueUrlEnv, type QueueName, type RegistrySecretAccess, type RouteAuth, type SecretName, type TableAccess };

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface Route {
  method: HttpMethod;
  /** API Gateway resource path, path parameters in braces: `/api/v1/devices/{uuid}/state`. */
  path: string;
  /** Who may call it (infra/route-auth.ts); the handler enforces it, the auth matrix holds it to this. */
  auth: RouteAuth;
}

export interface QueueSpec {
  fifo: boolean;
  /** Must cover the consumer's timeout (AWS recommends six times the function timeout). */
  visibilityTimeoutSeconds: number;
  /** Receives before a message is moved to the queue's dead-letter queue. */
  maxReceiveCount: number;
  /**
   * One-time schedules (EventBridge Scheduler) send to this queue: the wake-ups too far ahead for
   * a delayed message. At most one queue, a standard one (the nearer wake-ups are delayed messages).
   */
  scheduleTarget?: boolean;
}

export interface QueueTrigger {
  queue: QueueName;
  /** Records per invocation; FIFO event source mappings take at most 10. */
  batchSize: number;
  /** How long to gather a batch before invoking (standard queues only). */
  maxBatchingWindowSeconds?: number;
}

/**
 * An EventBridge event pattern on the account's default bus, for events AWS services emit (an
 * ECR push). Each field lists the values it matches; `detail` matches its fields the same way.
 */
export interface EventPattern {
  source: readonly string[];
  'detail-type': readonly string[];
  detail?: Readonly<Record<string, readonly string[]>>;
}

export interface FunctionSpec {
  /** Source file, relative to the repository root, exporting `handler`. */
  entry: string;
  description: string;
  timeoutSeconds: number;
  memoryMb: number;
  routes?: Route[];
  queues?: QueueTrigger[];
  /** Invoked once a minute: an EventBridge rule `rate(1 minute)` on AWS, a timer on the embedded host. */
  everyMinute?: boolean;
  /**
   * Invoked with each event of the account's default bus this pattern matches: an EventBridge
   * rule on AWS; on the embedded host, `Host.deliverEvent` (there is no AWS service to emit them).
   */
  onEvents?: EventPattern;
  /** Queues this function sends to; grants and queue URLs in its environment follow from it. */
  sendsTo?: QueueName[];
  /**
   * The table, read (GetItem, BatchGetItem, Query) or read and written (also PutItem, UpdateItem,
   * DeleteItem, BatchWriteItem); none when absent. Gives the function TABLE_NAME.
   */
  table?: TableAccess;
  /** Secrets the function reads: `webhook` (registries' secret), `adminKey` (the bootstrap admin key). */
  secrets?: SecretName[];
  /**
   * The configured registries' secrets that are kept as they are (kinds that check an HMAC), in
   * Secrets Manager under the stack's prefix: `read` them, or `write` them (create, put, delete).
   * Gives REGISTRY_SECRET_PREFIX.
   */
  registrySecrets?: RegistrySecretAccess;
  /**
   * It puts events on the stack's EventBridge bus: `events:PutEvents` on that bus and
   * EVENT_BUS_NAME in its environment where the host has a bus (the embedded host has none).
   */
  putsEvents?: boolean;
  /**
   * A script (`tsx <script> <dir>`) that writes files the function serves; synthesis runs it into
   * the function's asset, beside its bundle. The embedded host runs from the sources, where the
   * function builds them itself.
   */
  staticAssets?: string;
}

export const queues = {
  /** Rollout-level commands, one message group per rollout so its transitions are serialised. */
  orchestration: { fifo: true, visibilityTimeoutSeconds: 180, maxReceiveCount: orchestrationMaxReceiveCount },
  /** Device fan-out: setting the target state of one shard of a batch's devices, page by page. */
  targets: { fifo: false, visibilityTimeoutSeconds: 180, maxReceiveCount: 5 },
  /** Health checks of a batch's updated devices, one shard (then one page) per message. */
  health: { fifo: false, visibilityTimeoutSeconds: 360, maxReceiveCount: 3 },
  /** Rollbacks: devices put back on the image they ran before, one shard (then one page) per message. */
  rollback: { fifo: false, visibilityTimeoutSeconds: 180, maxReceiveCount: 5 },
  /** The 30-second safety net: tick messages sent by the ticker (delays 0 s and 30 s). */
  tick: { fifo: false, visibilityTimeoutSeconds: 180, maxReceiveCount: 3 },
  /**
   * Wake-ups at a rollout's due time (batch delay over, update timeout reached): delayed messages
   * up to 15 minutes ahead, one-time schedules beyond. A queue of their own rather than the tick
   * queue: the orchestration queue is FIFO and takes no per-message delay; the tick's consumer
   * reads every active rollout per message (batch size 1), while a wake-up only forwards one
   * evaluation and batches well; the scheduler role can send here and nowhere else; and a wake-up
   * in this dead-letter queue means a missed due time, not a missed tick.
   */
  wake: { fifo: false, visibilityTimeoutSeconds: 180, maxReceiveCount: 3, scheduleTarget: true },
  /**
   * Events just recorded (appendEvents sends one message per page of them, and only while a bus
   * or a matching subscription listens), to the EventBridge bus and the subscriptions' deliveries.
   */
  notify: { fifo: false, visibilityTimeoutSeconds: 180, maxReceiveCount: 5 },
  /**
   * One attempt to deliver one event to one subscription per message; a failed attempt sends the
   * next, delayed by its backoff (lib/notifications/deliver.ts). Receives beyond the first cover a
   * crashed consumer; the dead-letter queue holds the deliveries whose last attempt failed.
   */
  deliveries: { fifo: false, visibilityTimeoutSeconds: 60, maxReceiveCount: 3 },
} as const satisfies Record<QueueName, QueueSpec>;

export const functions = {
  webhook: {
    entry: 'functions/webhook.ts',
    description: 'Registry push notifications: authenticate, normalise, create rollouts',
    timeoutSeconds: 15,
    memoryMb: 512,
    routes: [{ method: 'POST', path: '/api/v1/webhooks/{registry}', auth: 'webhookSecret' }],
    sendsTo: ['orchestration', 'notify'],
    table: 'read-write',
    // The global secret of the default registries; a configured registry's own secret is in the
    // table (its hash) or in Secrets Manager (HMAC kinds).
    secrets: ['webhook'],
    registrySecrets: 'read',
  },
  ecrEvents: {
    entry: 'functions/ecr-events.ts',
    description: 'Amazon ECR pushes from EventBridge: normalise, create rollouts',
    timeoutSeconds: 15,
    memoryMb: 256,
    onEvents: { source: ['aws.ecr'], 'detail-type': ['ECR Image Action'], detail: { 'action-type': ['PUSH'], result: ['SUCCESS'] } },
    sendsTo: ['orchestration', 'notify'],
    table: 'read-write',
  },
  adminRegistries: {
    entry: 'functions/admin-registries.ts',
    description: 'Admin API: the registries that send pushes, each with its webhook URL, secret, host aliases and rate limit',
    timeoutSeconds: 15,
    memoryMb: 256,
    routes: [
      { method: 'GET', path: '/api/v1/registries', auth: 'admin' },
      { method: 'POST', path: '/api/v1/registries', auth: 'admin' },
      { method: 'GET', path: '/api/v1/registries/{name}', auth: 'admin' },
      { method: 'PATCH', path: '/api/v1/registries/{name}', auth: 'admin' },
      { method: 'DELETE', path: '/api/v1/registries/{name}', auth: 'admin' },
    ],
    table: 'read-write',
    secrets: ['adminKey'],
    registrySecrets: 'write',
  },
  adminPolicies: {
    entry: 'functions/admin-policies.ts',
    description: 'Admin API: update policies',
    timeoutSeconds: 15,
    memoryMb: 512,
    routes: [
      { method: 'GET', path: '/api/v1/policies', auth: 'admin' },
      { method: 'POST', path: '/api/v1/policies', auth: 'admin' },
      { method: 'GET', path: '/api/v1/policies/{policyId}', auth: 'admin' },
      { method: 'PUT', path: '/api/v1/policies/{policyId}', auth: 'admin' },
      { method: 'DELETE', path: '/api/v1/policies/{policyId}', auth: 'admin' },
    ],
    table: 'read-write',
    secrets: ['adminKey'],
  },
  adminDevices: {
    entry: 'functions/admin-devices.ts',
    description: "Admin API: registering and reading devices, setting an app's container settings",
    timeoutSeconds: 15,
    memoryMb: 512,
    routes: [
      { method: 'GET', path: '/api/v1/devices', auth: 'admin' },
      { method: 'POST', path: '/api/v1/devices', auth: 'admin' },
      { method: 'GET', path: '/api/v1/devices/{uuid}', auth: 'admin' },
      { method: 'PATCH', path: '/api/v1/devices/{uuid}', auth: 'admin' },
      { method: 'PUT', path: '/api/v1/devices/{uuid}/apps/{app}', auth: 'admin' },
      { method: 'DELETE', path: '/api/v1/devices/{uuid}', auth: 'admin' },
      { method: 'POST', path: '/api/v1/devices/{uuid}/token', auth: 'admin' },
    ],
    // A device deleted mid-rollout leaves it: its rows' events, and an evaluation of the batch; a
    // device registered or relabelled into a rollout under way joins it.
    sendsTo: ['orchestration', 'notify'],
    table: 'read-write',
    secrets: ['adminKey'],
  },
  adminProvisioningKeys: {
    entry: 'functions/admin-provisioning-keys.ts',
    description: 'Admin API: provisioning keys, which let devices register themselves',
    timeoutSeconds: 15,
    memoryMb: 256,
    routes: [
      { method: 'GET', path: '/api/v1/provisioning-keys', auth: 'admin' },
      { method: 'POST', path: '/api/v1/provisioning-keys', auth: 'admin' },
      { method: 'DELETE', path: '/api/v1/provisioning-keys/{keyId}', auth: 'admin' },
    ],
    table: 'read-write',
    secrets: ['adminKey'],
  },
  adminKeys: {
    entry: 'functions/admin-keys.ts',
    description: 'Admin API: named admin keys, so that what an admin does says who did it',
    timeoutSeconds: 15,
    memoryMb: 256,
    routes: [
      { method: 'GET', path: '/api/v1/admin-keys', auth: 'admin' },
      { method: 'POST', path: '/api/v1/admin-keys', auth: 'admin' },
      { method: 'DELETE', path: '/api/v1/admin-keys/{keyId}', auth: 'admin' },
    ],
    table: 'read-write',
    secrets: ['adminKey'],
  },
  provisionDevice: {
    entry: 'functions/provision-device.ts',
    description: 'Devices registering themselves with a provisioning key',
    timeoutSeconds: 10,
    memoryMb: 256,
    routes: [{ method: 'POST', path: '/api/v1/devices/provision', auth: 'provisioningKey' }],
    // A device registered while a rollout of its repository is under way joins it (lib/rollouts/joins.ts).
    sendsTo: ['orchestration'],
    // Takes a provisioning key, never the admin key, so it reads no secret.
    table: 'read-write',
  },
  adminRollouts: {
    entry: 'functions/admin-rollouts.ts',
    description: 'Admin API: watching and steering rollouts',
    timeoutSeconds: 15,
    memoryMb: 1024,
    routes: [
      { method: 'GET', path: '/api/v1/rollouts', auth: 'admin' },
      { method: 'GET', path: '/api/v1/rollouts/active', auth: 'admin' },
      { method: 'GET', path: '/api/v1/rollouts/{rolloutId}', auth: 'admin' },
      { method: 'GET', path: '/api/v1/rollouts/{rolloutId}/devices', auth: 'admin' },
      { method: 'GET', path: '/api/v1/rollouts/{rolloutId}/events', auth: 'admin' },
      { method: 'POST', path: '/api/v1/rollouts/{rolloutId}/start', auth: 'admin' },
      { method: 'POST', path: '/api/v1/rollouts/{rolloutId}/pause', auth: 'admin' },
      { method: 'POST', path: '/api/v1/rollouts/{rolloutId}/resume', auth: 'admin' },
      { method: 'POST', path: '/api/v1/rollouts/{rolloutId}/promote', auth: 'admin' },
      { method: 'POST', path: '/api/v1/rollouts/{rolloutId}/approve', auth: 'admin' },
      { method: 'POST', path: '/api/v1/rollouts/{rolloutId}/reject', auth: 'admin' },
      { method: 'POST', path: '/api/v1/rollouts/{rolloutId}/cancel', auth: 'admin' },
      { method: 'POST', path: '/api/v1/rollouts/{rolloutId}/rollback-all', auth: 'admin' },
      { method: 'POST', path: '/api/v1/rollouts/{rolloutId}/devices/{uuid}/rollback', auth: 'admin' },
    ],
    sendsTo: ['orchestration', 'targets', 'rollback', 'notify'],
    table: 'read-write',
    secrets: ['adminKey'],
  },
  deviceApi: {
    entry: 'functions/device-api.ts',
    description: 'The device hot path: target state with ETag, current-state reports',
    timeoutSeconds: 10,
    memoryMb: 256,
    routes: [
      { method: 'GET', path: '/api/v1/devices/{uuid}/state', auth: 'device' },
      { method: 'PATCH', path: '/api/v1/devices/{uuid}/state', auth: 'device' },
    ],
    // targets: a report of a device in a rollout with a max_unavailable budget wakes its paced scheduler.
    sendsTo: ['orchestration', 'targets', 'notify'],
    table: 'read-write',
    // Device routes must recognise the admin key to answer 403 ("not a device token") rather than 401.
    secrets: ['adminKey'],
  },
  dashboard: {
    entry: 'functions/dashboard.ts',
    description: 'The operator dashboard: its page and bundle; what it shows it reads from the admin API',
    timeoutSeconds: 5,
    memoryMb: 256,
    routes: [
      // Static files only: the page asks for the admin key and sends it to the admin API.
      { method: 'GET', path: '/dashboard', auth: 'public' },
      { method: 'GET', path: '/dashboard/{file}', auth: 'public' },
    ],
    // Synthesis builds the page into the function's asset (infra/cdk/stack.ts).
    staticAssets: 'dashboard/build.ts',
  },
  batchAdvance: {
    entry: 'functions/batch-advance.ts',
    description: 'The only writer of rollout progress: plan, start batches, evaluate, complete',
    timeoutSeconds: 30,
    memoryMb: 1024,
    queues: [{ queue: 'orchestration', batchSize: 10 }],
    sendsTo: ['orchestration', 'targets', 'health', 'rollback', 'wake', 'notify'],
    table: 'read-write',
  },
  setTargets: {
    entry: 'functions/set-targets.ts',
    description: "Sets the new image as target state for one shard of a batch's devices",
    timeoutSeconds: 30,
    memoryMb: 512,
    queues: [{ queue: 'targets', batchSize: 5 }],
    sendsTo: ['targets', 'orchestration', 'notify'],
    table: 'read-write',
  },
  healthCheck: {
    entry: 'functions/health-check.ts',
    description: "Probes a shard of a batch's updated devices and records healthy or unhealthy",
    // One round of probes: up to 4 attempts of at most 60 s each (lib/policies.ts).
    timeoutSeconds: 300,
    memoryMb: 512,
    queues: [{ queue: 'health', batchSize: 1 }],
    sendsTo: ['health', 'orchestration', 'notify'],
    table: 'read-write',
  },
  rollback: {
    entry: 'functions/rollback.ts',
    description: 'Puts devices back on the image they ran before',
    timeoutSeconds: 30,
    memoryMb: 512,
    queues: [{ queue: 'rollback', batchSize: 5 }],
    sendsTo: ['rollback', 'orchestration', 'notify'],
    table: 'read-write',
  },
  monitor: {
    entry: 'functions/monitor.ts',
    description: 'Turns ticks and wake-ups into evaluations: on a tick, of every rollout with due work; on a wake-up, of its rollout',
    timeoutSeconds: 30,
    memoryMb: 256,
    queues: [
      { queue: 'tick', batchSize: 1 },
      { queue: 'wake', batchSize: 10 },
    ],
    sendsTo: ['orchestration'],
    // Finds due work by querying; every change is batch-advance's.
    table: 'read',
  },
  adminNotifications: {
    entry: 'functions/admin-notifications.ts',
    description: 'Admin API: notification subscriptions to rollout events',
    timeoutSeconds: 15,
    memoryMb: 256,
    routes: [
      { method: 'GET', path: '/api/v1/notifications', auth: 'admin' },
      { method: 'POST', path: '/api/v1/notifications', auth: 'admin' },
      { method: 'GET', path: '/api/v1/notifications/{subscriptionId}', auth: 'admin' },
      { method: 'PUT', path: '/api/v1/notifications/{subscriptionId}', auth: 'admin' },
      { method: 'DELETE', path: '/api/v1/notifications/{subscriptionId}', auth: 'admin' },
    ],
    table: 'read-write',
    secrets: ['adminKey'],
  },
  notifyEvents: {
    entry: 'functions/notify-events.ts',
    description: 'Recorded events to the EventBridge bus and to the deliveries of matching subscriptions',
    timeoutSeconds: 30,
    memoryMb: 256,
    queues: [{ queue: 'notify', batchSize: 10 }],
    sendsTo: ['deliveries'],
    // Reads the subscriptions; the outcomes are the deliveries'.
    table: 'read',
    putsEvents: true,
  },
  deliverNotification: {
    entry: 'functions/deliver-notification.ts',
    description: 'Delivers an event to a subscription: one signed POST per attempt, retried with backoff',
    // A batch's attempts run at once, each at most 5 s (lib/notifications/deliver.ts).
    timeoutSeconds: 30,
    memoryMb: 256,
    queues: [{ queue: 'deliveries', batchSize: 10 }],
    // Its own queue: a failed attempt sends the next one there, delayed by the backoff.
    sendsTo: ['deliveries'],
    // Records each subscription's last outcome.
    table: 'read-write',
  },
  apiDocs: {
    entry: 'functions/api-docs.ts',
    description: "The API's OpenAPI document, generated from the schemas the handlers validate and answer with",
    timeoutSeconds: 10,
    memoryMb: 256,
    routes: [{ method: 'GET', path: '/api/v1/openapi.json', auth: 'public' }],
  },
  ticker: {
    entry: 'functions/ticker.ts',
    description: 'Turns the once-a-minute rule into two ticks, 30 seconds apart',
    timeoutSeconds: 10,
    memoryMb: 128,
    everyMinute: true,
    sendsTo: ['tick'],
  },
} as const satisfies Record<string, FunctionSpec>;

export type FunctionName = keyof typeof functions;

/** Physical queue name (FIFO queues must end in `.fifo`). */
export function queueResourceName(prefix: string, queue: QueueName): string {
  const spec: QueueSpec = queues[queue];
  return `${prefix}-${queue}${spec.fifo ? '.fifo' : ''}`;
}

export function deadLetterQueueName(prefix: string, queue: QueueName): string {
  const spec: QueueSpec = queues[queue];
  return `${prefix}-${queue}-dlq${spec.fifo ? '.fifo' : ''}`;
}

/**
 * The queue one-time schedules (EventBridge Scheduler, `at()`) send to, if any: the queue marked
 * `scheduleTarget`, which carries wake-ups at a rollout's due time.
 */
export function scheduleTargetQueue(queues: Readonly<Record<QueueName, QueueSpec>>): QueueName | undefined {
  return (Object.entries(queues) as [QueueName, QueueSpec][]).find(([, spec]) => spec.scheduleTarget === true)?.[0];
}

/**
 * What a function is granted, from what the manifest declares: both hosts build its environment
 * from this (lib/environment.ts `functionEnvironment`), and the stack its role. A function that
 * sends wake-ups creates one-time schedules too: a wake-up more than 15 minutes ahead becomes a
 * schedule sending to the same queue.
 */
export function grantsOf(spec: FunctionSpec, queues: Readonly<Record<QueueName, QueueSpec>>): Grants {
  const target = scheduleTargetQueue(queues);
  const sendsTo = spec.sendsTo ?? [];
  return {
    ...(spec.table ? { table: spec.table } : {}),
    sendsTo,
    secrets: spec.secrets ?? [],
    createsSchedules: target !== undefined && sendsTo.includes(target),
    putsEvents: spec.putsEvents === true,
    ...(spec.registrySecrets ? { registrySecrets: spec.registrySecrets } : {}),
  };
}

/** The EventBridge rule that invokes an `everyMinute` function. */
export function minuteRuleName(prefix: string, functionName: string): string {
  return `${prefix}-${functionName}-every-minute`;
}

/** The EventBridge rule that invokes an `onEvents` function. */
export function eventRuleName(prefix: string, functionName: string): string {
  return `${prefix}-${functionName}-events`;
}

/** Where the stack keeps registries' secrets in Secrets Manager: `<prefix>/registries/<name>`. */
export function registrySecretPrefix(prefix: string): string {
  return `${prefix}/registries/`;
}

/** The EventBridge Scheduler group that holds the one-time schedules of wake-ups. */
export function scheduleGroupName(prefix: string): string {
  return `${prefix}-wake-ups`;
}
