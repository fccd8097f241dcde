/**
 * The checks the stack runs on the manifest before it builds anything, and the context
 * parameters it accepts: mistakes fail synthesis with a message that says what to change.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Construct, type Node } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as manifest from '../../infra/manifest';
import type { FunctionSpec, QueueSpec } from '../../infra/manifest';
import { readSettings } from '../../infra/cdk/settings';
import { FleetRolloutStack } from '../../infra/cdk/stack';
import { checkWiring, type Wiring } from '../../infra/cdk/wiring';
import { allGrants, functionEnvironment, type HostResources } from '../../lib/environment';
import { notificationDefaultRanges } from '../../lib/notifications/destination';
import { cdkJsonContext } from './synth';

const consumer = (overrides: Partial<FunctionSpec> = {}): FunctionSpec => ({
  entry: 'functions/monitor.ts',
  description: 'consumer',
  timeoutSeconds: 30,
  memoryMb: 128,
  queues: [
    { queue: 'tick', batchSize: 1 },
    { queue: 'wake', batchSize: 10 },
  ],
  ...overrides,
});

/** The manifest with one queue or function replaced. */
function wiringWith(change: { queue?: Partial<QueueSpec>; consumer?: Partial<FunctionSpec>; extra?: Record<string, FunctionSpec> }): Wiring {
  return {
    queues: { ...manifest.queues, tick: { ...manifest.queues.tick, ...change.queue } },
    functions: { ...manifest.functions, monitor: consumer(change.consumer), ...change.extra },
  };
}

// An App without an outdir makes a temporary directory of its own and leaves it behind.
let outdir: string;
beforeAll(async () => {
  outdir = await mkdtemp(join(tmpdir(), 'fleet-rollout-cdk-'));
});
afterAll(async () => {
  await rm(outdir, { recursive: true, force: true });
});

/** A construct tree holding only context, as `cdk -c` would give the app. */
function contextNode(context: Record<string, unknown>): Node {
  const root = new Construct(undefined as unknown as Construct, '');
  for (const [key, value] of Object.entries(context)) root.node.setContext(key, value);
  return root.node;
}

describe('checkWiring', () => {
  it('accepts the manifest', () => {
    expect(() => checkWiring({ functions: manifest.functions, queues: manifest.queues })).not.toThrow();
  });

  it('refuses a visibility timeout shorter than the consumer function timeout', () => {
    expect(() => checkWiring(wiringWith({ queue: { visibilityTimeoutSeconds: 20 } }))).toThrow(
      /queue tick: visibility timeout 20 s is shorter than the 30 s timeout of its consumer monitor/,
    );
  });

  it('refuses FIFO batches over 10, batching windows on FIFO queues, and a queue without exactly one consumer', () => {
    expect(() => checkWiring(wiringWith({ queue: { fifo: true }, consumer: { queues: [{ queue: 'tick', batchSize: 11, maxBatchingWindowSeconds: 1 }] } }))).toThrow(
      /batch size 11 on FIFO queue tick exceeds 10[\s\S]*FIFO queue tick takes no batching window/,
    );
    expect(() => checkWiring(wiringWith({ consumer: { queues: [] } }))).toThrow(/queue tick must have exactly one consumer, has none/);
  });

  it('refuses a second schedule target, and a FIFO one: wake-ups up to 15 minutes ahead are delayed messages', () => {
    expect(() => checkWiring(wiringWith({ queue: { scheduleTarget: true } }))).toThrow(/queues tick, wake are all marked scheduleTarget/);
    const fifoTarget: Wiring = { ...wiringWith({}), queues: { ...manifest.queues, wake: { ...manifest.queues.wake, fifo: true } } };
    expect(() => checkWiring(fifoTarget)).toThrow(/queue wake is a schedule target but FIFO/);
  });

  it('refuses routed functions slower than API Gateway waits, and a route declared twice', () => {
    const route = { method: 'GET' as const, path: '/api/v1/policies', auth: 'admin' as const };
    expect(() => checkWiring(wiringWith({ extra: { slow: { ...consumer({ queues: [] }), timeoutSeconds: 30, routes: [route] } } }))).toThrow(
      /function slow serves HTTP routes but its timeout 30 s exceeds API Gateway's 29 s[\s\S]*route GET \/api\/v1\/policies is declared by both adminPolicies and slow/,
    );
  });

  it('refuses a route that declares no auth rule, or one that is not a rule', () => {
    const routes = [
      { method: 'GET', path: '/api/v1/reports' },
      { method: 'POST', path: '/api/v1/reports', auth: 'anyone' },
    ] as unknown as FunctionSpec['routes'];
    expect(() => checkWiring(wiringWith({ extra: { reports: { ...consumer({ queues: [] }), timeoutSeconds: 10, routes } } }))).toThrow(
      /route GET \/api\/v1\/reports of function reports declares no auth[\s\S]*route POST \/api\/v1\/reports of function reports declares auth "anyone"/,
    );
  });

  it('refuses an event pattern that could never match, and a function with two rules', () => {
    const ecr = { ...manifest.functions.ecrEvents, onEvents: { source: [], 'detail-type': ['ECR Image Action'], detail: { result: [] } } };
    expect(() => checkWiring(wiringWith({ extra: { ecrEvents: ecr } }))).toThrow(/function ecrEvents: its onEvents pattern lists no value for source, detail\.result/);
    expect(() => checkWiring(wiringWith({ extra: { ecrEvents: { ...manifest.functions.ecrEvents, everyMinute: true } } }))).toThrow(/both everyMinute and onEvents/);
  });

  it('stops the stack before anything is built', async () => {
    const app = new App({ outdir, context: await cdkJsonContext() });
    expect(() => new FleetRolloutStack(app, 'bad', { settings: readSettings(app.node), wiring: wiringWith({ queue: { visibilityTimeoutSeconds: 1 } }) })).toThrow(
      /cannot be deployed[\s\S]*visibility timeout 1 s/,
    );
  });
});

describe('what a function is given, from what the manifest declares', () => {
  const grants = (name: keyof typeof manifest.functions) => manifest.grantsOf(manifest.functions[name], manifest.queues);
  const resources: HostResources = {
    tableName: 'the-table',
    queueUrls: { orchestration: 'q/orchestration', targets: 'q/targets', health: 'q/health', rollback: 'q/rollback', tick: 'q/tick', wake: 'q/wake', notify: 'q/notify', deliveries: 'q/deliveries' },
    secrets: { webhook: { arn: 'arn:webhook' }, adminKey: { arn: 'arn:admin' } },
    schedules: { groupName: 'group', roleArn: 'arn:role', targetArn: 'arn:wake' },
  };
  const common = { tickSeconds: 30, healthCheckAllowedCidrs: ['10.0.0.0/8'], logLevel: 'info' };

  it('the webhook secret to the webhook, the admin key to the other routes, one-time schedules to the sender of wake-ups', () => {
    expect(grants('webhook')).toEqual({ table: 'read-write', sendsTo: ['orchestration', 'notify'], secrets: ['webhook'], createsSchedules: false, putsEvents: false, registrySecrets: 'read' });
    expect(grants('adminRegistries')).toMatchObject({ secrets: ['adminKey'], registrySecrets: 'write' });
    expect(grants('ecrEvents')).toEqual({ table: 'read-write', sendsTo: ['orchestration', 'notify'], secrets: [], createsSchedules: false, putsEvents: false });
    expect(grants('deviceApi').secrets).toEqual(['adminKey']);
    expect(grants('batchAdvance').createsSchedules).toBe(true);
    expect(grants('ticker')).toEqual({ sendsTo: ['tick'], secrets: [], createsSchedules: false, putsEvents: false });
    expect(grants('notifyEvents').putsEvents).toBe(true);
  });

  it('exactly the variables of its grants and the common settings', () => {
    expect(functionEnvironment(grants('ticker'), resources, common)).toEqual({
      TICK_SECONDS: '30',
      HEALTH_CHECK_ALLOWED_CIDRS: '10.0.0.0/8',
      LOG_LEVEL: 'info',
      TICK_QUEUE_URL: 'q/tick',
    });
    expect(functionEnvironment(grants('webhook'), resources, common)).toMatchObject({ TABLE_NAME: 'the-table', ORCHESTRATION_QUEUE_URL: 'q/orchestration', WEBHOOK_SECRET_ARN: 'arn:webhook' });
    expect(functionEnvironment(grants('webhook'), { ...resources, secrets: { webhook: { value: 'shh' } } }, common)).toMatchObject({ WEBHOOK_SECRET: 'shh' });
    expect(Object.keys(functionEnvironment(grants('batchAdvance'), resources, common))).toEqual(
      expect.arrayContaining(['SCHEDULE_GROUP_NAME', 'SCHEDULER_ROLE_ARN', 'SCHEDULE_TARGET_QUEUE_ARN', 'TARGETS_QUEUE_URL', 'WAKE_QUEUE_URL']),
    );
    expect(Object.keys(functionEnvironment(grants('monitor'), resources, common))).not.toContain('SCHEDULE_GROUP_NAME');
    expect(Object.keys(functionEnvironment(allGrants, resources, common))).toHaveLength(3 + 1 + 8 + 2 + 3);
    const withBus = { ...resources, eventBusName: 'the-bus' };
    expect(functionEnvironment(grants('notifyEvents'), withBus, common)).toMatchObject({ EVENT_BUS_NAME: 'the-bus', DELIVERIES_QUEUE_URL: 'q/deliveries' });
    expect(Object.keys(functionEnvironment(grants('batchAdvance'), withBus, common))).not.toContain('EVENT_BUS_NAME');
    const withPrefix = { ...resources, registrySecretPrefix: 'stack/registries/' };
    expect(functionEnvironment(grants('webhook'), withPrefix, common)).toMatchObject({ REGISTRY_SECRET_PREFIX: 'stack/registries/' });
    expect(functionEnvironment(grants('adminRegistries'), withPrefix, common)).toMatchObject({ REGISTRY_SECRET_PREFIX: 'stack/registries/' });
    for (const name of ['adminPolicies', 'ecrEvents', 'batchAdvance'] as const) expect(Object.keys(functionEnvironment(grants(name), withPrefix, common)), name).not.toContain('REGISTRY_SECRET_PREFIX');
  });
});

describe('context parameters', () => {
  const settingsWith = async (overrides: Record<string, unknown>) => readSettings(contextNode({ ...(await cdkJsonContext()), ...overrides }));

  it('default from cdk.json: retained data, throttled API, no WAF, private ranges for health checks', async () => {
    expect(await settingsWith({})).toEqual({
      stackName: 'fleet-rollout',
      removalPolicy: 'retain',
      apiThrottlingRateLimit: 200,
      apiThrottlingBurstLimit: 400,
      webhookThrottlingRateLimit: 20,
      webhookThrottlingBurstLimit: 50,
      waf: false,
      logLevel: 'info',
      healthCheckAllowedCidrs: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
      notificationAllowedCidrs: [...notificationDefaultRanges],
      devicePollIntervalSeconds: 300,
      devicePollIntervalActiveSeconds: 15,
    });
  });

  it('take a registry API for Docker Hub and quay.io digests, or off', async () => {
    expect(await settingsWith({ dockerHubManifestApiUrl: 'https://mirror.example.com' })).toMatchObject({ dockerHubManifestApiUrl: 'https://mirror.example.com' });
    expect(await settingsWith({ dockerHubManifestApiUrl: 'off' })).toMatchObject({ dockerHubManifestApiUrl: 'off' });
    expect(await settingsWith({ quayManifestApiUrl: 'off' })).toMatchObject({ quayManifestApiUrl: 'off' });
    await expect(settingsWith({ quayManifestApiUrl: 'ftp://quay.io' })).rejects.toThrow(/quayManifestApiUrl" must be an http\(s\) URL of a registry API or "off": not http or https/);
  });

  it('let notifications reach a private receiver when its range is listed', async () => {
    expect(await settingsWith({ notificationAllowedCidrs: '10.20.0.0/16, 2001:db8::/32' })).toMatchObject({ notificationAllowedCidrs: ['10.20.0.0/16', '2001:db8::/32'] });
  });

  it('parse -c values, which arrive as strings', async () => {
    expect(await settingsWith({ waf: 'true', apiThrottlingRateLimit: '1000', apiThrottlingBurstLimit: '2000', removalPolicy: 'destroy' })).toMatchObject({
      waf: true,
      apiThrottlingRateLimit: 1000,
      apiThrottlingBurstLimit: 2000,
      removalPolicy: 'destroy',
    });
  });

  it('refuse what cannot be right', async () => {
    await expect(settingsWith({ removalPolicy: 'snapshot' })).rejects.toThrow(/removalPolicy" must be one of retain, destroy/);
    await expect(settingsWith({ apiThrottlingRateLimit: 'many' })).rejects.toThrow(/positive integer/);
    await expect(settingsWith({ healthCheckAllowedCidrs: '10.0.0.0/8,127.0.0.0/8' })).rejects.toThrow(/must not allow loopback \(127\.0\.0\.0\/8, 127\.0\.0\.1\)/);
    await expect(settingsWith({ healthCheckAllowedCidrs: '127.0.0.2/32' })).rejects.toThrow(/must not allow loopback \(127\.0\.0\.2\/32\)/);
    await expect(settingsWith({ healthCheckAllowedCidrs: '0.0.0.0/0,::/0' })).rejects.toThrow(/must not allow loopback \(127\.0\.0\.1, ::1\)/);
    await expect(settingsWith({ healthCheckAllowedCidrs: '10.0.0.1/8' })).rejects.toThrow(/host bits are set/);
    await expect(settingsWith({ notificationAllowedCidrs: '0.0.0.0/0' })).rejects.toThrow(/"notificationAllowedCidrs" must not allow loopback \(127\.0\.0\.1\)/);
    await expect(settingsWith({ notificationAllowedCidrs: 'hooks.example.com' })).rejects.toThrow(/"notificationAllowedCidrs" is invalid/);
    await expect(settingsWith({ alarmEmail: 'not-an-address' })).rejects.toThrow(/not an email address/);
    await expect(settingsWith({ dockerHubManifestApiUrl: 'registry-1.docker.io' })).rejects.toThrow(/dockerHubManifestApiUrl" must be an http\(s\) URL of a registry API or "off": not a URL/);
    await expect(settingsWith({ devicePollIntervalSeconds: '0' })).rejects.toThrow(/devicePollIntervalSeconds" must be a positive integer/);
    await expect(settingsWith({ devicePollIntervalSeconds: '90000' })).rejects.toThrow(/at most 86400 seconds/);
    await expect(settingsWith({ devicePollIntervalSeconds: '60', devicePollIntervalActiveSeconds: '120' })).rejects.toThrow(/must not be longer than "devicePollIntervalSeconds"/);
    await expect(settingsWith({ webhookThrottlingRateLimit: '30', webhookThrottlingBurstLimit: '10' })).rejects.toThrow(/webhookThrottlingBurstLimit" must be at least/);
    await expect(settingsWith({ webhookThrottlingRateLimit: '300', webhookThrottlingBurstLimit: '300' })).rejects.toThrow(/must not exceed "apiThrottling/);
  });
});
