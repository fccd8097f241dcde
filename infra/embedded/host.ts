/**
 * The embedded host: the whole system on one machine, no cloud and no Docker. It reads the same
 * manifest as the CDK stack and starts its twin of each AWS piece: dynalite for the table,
 * local-aws-sqs for the queues, an HTTP server for API Gateway, a poller per queue trigger for
 * the event source mappings, a timer for the EventBridge rule, and an EventBridge Scheduler twin
 * for the one-time schedules of wake-ups more than 15 minutes ahead (infra/embedded/scheduler.ts),
 * a Secrets Manager twin for registries' secrets (infra/embedded/secrets-manager.ts), the rules
 * of the default event bus (infra/embedded/event-rules.ts), and `GET /metrics` for what CloudWatch shows on AWS (infra/embedded/metrics-endpoint.ts).
 *
 * Handlers reach the emulators through the standard `AWS_ENDPOINT_URL_*` variables, so the code
 * they run is the code that runs on AWS. Because those variables, and the SDK clients that lib/
 * builds from them once per process, are process-wide, only one host runs in a process
 * at a time; a test that starts a second host after stopping the first must give it a fresh
 * module registry (vitest: `vi.resetModules()`), as a new Lambda sandbox would have.
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SQSClient } from '@aws-sdk/client-sqs';
import * as manifest from '../manifest';
import { grantsOf, registrySecretPrefix, scheduleGroupName, scheduleTargetQueue, type FunctionSpec, type QueueName, type QueueSpec } from '../manifest';
import { routeAuthProblems } from '../route-auth';
import { allGrants, env, functionEnvironment, type CommonSettings, type HostResources } from '../../lib/environment';
import { loopbackRanges, privateRanges } from '../../lib/health/address-policy';
import { notificationDefaultRanges } from '../../lib/notifications/destination';
import { defaultLogFormat, type LogFormat } from '../../lib/log-format';
import { newAdminKey, randomSecret } from '../../lib/secrets';
import { accountId, region } from './aws-identity';
import { lockDataDir, persistentSecret } from './data-dir';
import { emulatorClientConfig, startEmulators, type Emulators } from './emulators';
import { startHttpGateway, type HttpGateway, type HttpRoute } from './http-gateway';
import { createMetricsEndpoint } from './metrics-endpoint';
import { invokeStore, loadFunction, settleInvocations, type InvocationObserver, type LoadedFunction } from './lambda-runtime';
import { createLogger, type LogLevel } from './logger';
import { startMinuteRule, type MinuteRule } from './minute-rule';
import { startSchedulerTwin } from './scheduler';
import { startSecretsManagerTwin } from './secrets-manager';
import { eventRules, type DeliveredEvent } from './event-rules';
import { advanceClock, now, resetClock } from '../../lib/clock';
import { startSqsPoller, wakeOnSend, type Redelivery, type SqsPoller } from './sqs-poller';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Physical names, as the CDK stack would give them. */
const resourcePrefix = 'fleet';
const tableName = 'fleet';

export interface HostManifest {
  functions: Readonly<Record<string, FunctionSpec>>;
  queues: Readonly<Record<QueueName, QueueSpec>>;
}

export interface HostOptions {
  /** HTTP port; 0 picks a free one. Default 3001. */
  port?: number;
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string;
  /** Where the table, the admin key, the webhook secret and registries' secrets are kept; ':memory:' keeps nothing. */
  dataDir: string;
  /** Seconds between the ticker's two ticks. Default 30, as on AWS. */
  tickSeconds?: number;
  /** Default: read from `<dataDir>/admin-api-key`, else generated and saved there. */
  adminApiKey?: string;
  /** Default: read from `<dataDir>/webhook-secret`, else generated and saved there. */
  webhookSecret?: string;
  /** Batches in flight at once per standard-queue trigger. Default 4. */
  standardQueueConcurrency?: number;
  /** The host's own lines; the handlers' follow LOG_LEVEL, as on AWS. Default info. */
  logLevel?: LogLevel;
  /**
   * One format for the host's lines and the handlers', all on stdout (the handlers get it as
   * LOG_FORMAT). Default: pretty when stdout is a terminal, JSON lines otherwise.
   */
  logFormat?: LogFormat;
  /** None of the host's own lines (tests); LOG_LEVEL=silent silences the handlers too. */
  quiet?: boolean;
  /** Addresses health checks may reach. Default: loopback and the private ranges. */
  healthCheckAllowedCidrs?: readonly string[];
  /** Addresses notification deliveries may reach. Default: loopback and every unicast range (lib/notifications/destination.ts). */
  notificationAllowedCidrs?: readonly string[];
  /** Seconds before a failed notification delivery's first retry, doubled for each next. Default 30. */
  notificationRetryBaseSeconds?: number;
  /** The target state's poll hints, in seconds: without and with an active rollout. Default 300 and 15. */
  devicePollIntervalSeconds?: number;
  devicePollIntervalActiveSeconds?: number;
  /**
   * Where Docker Hub pushes' digests are looked up (a registry API base URL), or `off`. Default:
   * DOCKER_HUB_MANIFEST_API_URL of this process when set (the test configs set `off`, so that no
   * test reaches Docker Hub), else Docker Hub's API, as on AWS.
   */
  dockerHubManifestApiUrl?: string;
  /** The same for quay.io pushes: QUAY_MANIFEST_API_URL of this process when set, else quay.io's API. */
  quayManifestApiUrl?: string;
  /** The wiring to run. Default: infra/manifest.ts; tests pass fixture functions here. */
  manifest?: HostManifest;
  /**
   * Function name → absolute path of a module to load instead of the function's `entry` source,
   * e.g. the bundles in a cloud assembly written by `cdk synth` (test/infra/bundles.test.ts).
   * Functions not listed load from source.
   */
  functionsFrom?: Readonly<Record<string, string>>;
  /**
   * A test-only fault: the queue triggers deliver batches again, as SQS may (test/chaos). Unset,
   * every batch is delivered once, as in production.
   */
  redelivery?: Redelivery;
  /**
   * Told of every invocation once it ends, whatever its trigger: its function, duration, memory
   * and outcome, what Lambda bills and reports (the benchmark prices and checks them). Must not throw.
   */
  onInvocation?: InvocationObserver;
}

export interface Host {
  /** Base URL of the API, e.g. http://127.0.0.1:3001 */
  url: string;
  port: number;
  adminApiKey: string;
  webhookSecret: string;
  dataDir: string;
  tableName: string;
  queueUrls: Record<QueueName, string>;
  deadLetterQueueUrls: Record<QueueName, string>;
  /** Emulator endpoints, for tools and tests that talk to DynamoDB or SQS directly. */
  endpoints: { dynamodb: string; sqs: string; scheduler: string; secretsManager: string };
  /**
   * Puts an event on the twin of the account's default EventBridge bus: every function whose
   * `onEvents` rule matches it is invoked (an ECR push, which no AWS service emits here). Resolves
   * with what each returned; rejects when one failed (infra/embedded/event-rules.ts).
   */
  deliverEvent(event: Readonly<Record<string, unknown>>): Promise<DeliveredEvent[]>;
  /**
   * The time the handlers decide by (lib/clock.ts). `advance` moves it forward, so a test can let
   * an approval deadline pass or a maintenance window open at once; the next tick (or a wake-up
   * already scheduled) acts on the new time. Stopping the host puts it back on the wall clock.
   */
  clock: { now(): Date; advance(ms: number): void };
  /** Stops taking work, lets work in flight finish, then stops the emulators. Idempotent. */
  stop(): Promise<void>;
}

let running = false;

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(`startHost: ${message}`);
}

/** Sets variables and returns a function that puts the previous values back. */
function setEnvironment(values: Record<string, string | undefined>): () => void {
  const previous = Object.fromEntries(Object.keys(values).map((name) => [name, process.env[name]]));
  const apply = (entries: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(entries)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  apply(values);
  return () => apply(previous);
}

export async function startHost(options: HostOptions): Promise<Host> {
  const port = options.port ?? 3001;
  const tickSeconds = options.tickSeconds ?? 30;
  const concurrency = options.standardQueueConcurrency ?? 4;
  const wiring = options.manifest ?? { functions: manifest.functions, queues: manifest.queues };
  check(Number.isInteger(port) && port >= 0 && port <= 65535, `port must be 0..65535, got ${port}`);
  check(Number.isFinite(tickSeconds) && tickSeconds > 0, `tickSeconds must be positive, got ${tickSeconds}`);
  check(Number.isInteger(concurrency) && concurrency > 0, `standardQueueConcurrency must be a positive integer`);
  check(options.dataDir !== '', 'dataDir is required');
  const unknown = Object.keys(options.functionsFrom ?? {}).filter((name) => !(name in wiring.functions));
  check(unknown.length === 0, `functionsFrom names functions the wiring does not have: ${unknown.join(', ')}`);
  const unruled = routeAuthProblems(wiring.functions);
  check(unruled.length === 0, `every route needs an auth rule:\n- ${unruled.join('\n- ')}`);
  check(!running, 'a host is already running in this process (handlers share process.env)');
  running = true;

  const logFormat = options.logFormat ?? defaultLogFormat(process.stdout);
  const logger = createLogger({ level: options.quiet ? 'silent' : (options.logLevel ?? 'info'), format: logFormat });
  const dataDir = options.dataDir === ':memory:' ? ':memory:' : resolve(options.dataDir);
  const cleanups: (() => Promise<void> | void)[] = [() => void (running = false), resetClock];
  const cleanUp = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        logger.error('stopping part of the host failed', { error });
      }
    }
  };

  try {
    if (dataDir !== ':memory:') {
      await mkdir(dataDir, { recursive: true });
      cleanups.push(await lockDataDir(dataDir));
    }
    const emulators: Emulators = await startEmulators({ dataDir, prefix: resourcePrefix, tableName, queues: wiring.queues });
    cleanups.push(() => emulators.close());
    // Runs past their timeout are not awaited by the pollers; they finish before the emulators go.
    cleanups.push(() => settleInvocations(10_000));

    const adminApiKey = await persistentSecret(dataDir, 'admin-api-key', options.adminApiKey, newAdminKey);
    const webhookSecret = await persistentSecret(dataDir, 'webhook-secret', options.webhookSecret, randomSecret);
    const queueNames = Object.keys(wiring.queues) as QueueName[];
    const urlsOf = (queues: Record<QueueName, { url: string }>) =>
      Object.fromEntries(queueNames.map((queue) => [queue, queues[queue].url])) as Record<QueueName, string>;
    if (!(await invokeStore()).scoped) {
      logger.warn('the Lambda invoke store was created single-context before the host started: concurrent invocations share their log keys and may see each other\'s environment');
    }

    // Before the functions load, so that a wake-up scheduled on their first invocation finds it.
    const schedulerSqs = new SQSClient({ ...emulatorClientConfig, endpoint: emulators.sqsEndpoint });
    cleanups.push(() => schedulerSqs.destroy());
    const groupName = scheduleGroupName(resourcePrefix);
    const schedulerTwin = await startSchedulerTwin({
      groups: [groupName],
      queues: new Map(queueNames.map((queue) => [emulators.queues[queue].arn, emulators.queues[queue].url])),
      sqs: schedulerSqs,
      logger: logger.child('scheduler'),
    });
    cleanups.push(() => schedulerTwin.close());
    // Registries' secrets that must be kept as they are (HMAC kinds), in the data dir.
    const secretsManagerTwin = await startSecretsManagerTwin({ dataDir, logger: logger.child('secrets') });
    cleanups.push(() => secretsManagerTwin.close());
    const scheduleTarget = scheduleTargetQueue(wiring.queues);

    // What the functions are given, by the contract the CDK stack uses too (lib/environment.ts).
    const resources: HostResources = {
      tableName,
      queueUrls: Object.fromEntries(queueNames.map((queue) => [queue, emulators.queues[queue].url])) as Record<QueueName, string>,
      // The admin key is written to the table (below) rather than kept in a secret.
      secrets: { webhook: { value: webhookSecret } },
      registrySecretPrefix: registrySecretPrefix(resourcePrefix),
      ...(scheduleTarget
        ? {
            schedules: {
              groupName,
              // Not checked locally; shaped like the stack's role so nothing looks different to the code.
              roleArn: `arn:aws:iam::${accountId}:role/${resourcePrefix}-scheduler`,
              targetArn: emulators.queues[scheduleTarget].arn,
            },
          }
        : {}),
    };
    const dockerHubManifestApiUrl = options.dockerHubManifestApiUrl ?? process.env[env.dockerHubManifestApiUrl];
    const quayManifestApiUrl = options.quayManifestApiUrl ?? process.env[env.quayManifestApiUrl];
    const common: CommonSettings = {
      tickSeconds,
      // A laptop's simulated devices live on loopback; on AWS loopback would reach the Lambda runtime API.
      healthCheckAllowedCidrs: options.healthCheckAllowedCidrs ?? [...loopbackRanges, ...privateRanges],
      // Receivers on the laptop itself too; there is no EventBridge bus here (resources name none).
      notificationAllowedCidrs: options.notificationAllowedCidrs ?? [...loopbackRanges, ...notificationDefaultRanges],
      ...(options.notificationRetryBaseSeconds !== undefined ? { notificationRetryBaseSeconds: options.notificationRetryBaseSeconds } : {}),
      ...(options.devicePollIntervalSeconds !== undefined ? { devicePollIntervalSeconds: options.devicePollIntervalSeconds } : {}),
      ...(options.devicePollIntervalActiveSeconds !== undefined ? { devicePollIntervalActiveSeconds: options.devicePollIntervalActiveSeconds } : {}),
      ...(dockerHubManifestApiUrl ? { dockerHubManifestApiUrl } : {}),
      ...(quayManifestApiUrl ? { quayManifestApiUrl } : {}),
      logFormat,
      // The handlers follow LOG_LEVEL as the user set it for the process, as on AWS they follow the stack's.
      ...(process.env[env.logLevel] ? { logLevel: process.env[env.logLevel] } : {}),
    };

    // Before any handler module loads, as Lambda sets the environment before a cold start.
    cleanups.push(
      setEnvironment({
        AWS_REGION: region,
        AWS_DEFAULT_REGION: region,
        AWS_ACCESS_KEY_ID: emulatorClientConfig.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: emulatorClientConfig.credentials.secretAccessKey,
        AWS_SESSION_TOKEN: undefined,
        // Would make the SDK ignore the endpoints below and send requests to AWS.
        AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: undefined,
        AWS_ENDPOINT_URL_DYNAMODB: emulators.dynamodbEndpoint,
        AWS_ENDPOINT_URL_SQS: emulators.sqsEndpoint,
        AWS_ENDPOINT_URL_SCHEDULER: schedulerTwin.endpoint,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManagerTwin.endpoint,
        // Invocations run concurrently in this one process, each in its own context (lambda-runtime.ts);
        // what matters to Powertools is that it is set.
        AWS_LAMBDA_MAX_CONCURRENCY: String(concurrency),
        // Every grant, for code of this process that runs outside any function (the host's own
        // setup, tests); each function sees only its own (lambda-runtime.ts).
        ...functionEnvironment(allGrants, resources, common),
      }),
    );

    // Imported only now, so that lib's clients and config are built from the environment above.
    const { ensureAdminKey } = await import('../../lib/store/admin-keys');
    await ensureAdminKey(adminApiKey);

    const sqs = new SQSClient({ ...emulatorClientConfig, endpoint: emulators.sqsEndpoint });
    cleanups.push(() => sqs.destroy());
    // Before the functions load, so that no flush of theirs reaches stdout (metrics-endpoint.ts).
    const { countMetrics, latencyMetrics, metricsService, sendEmfTo } = await import('../../lib/metrics');
    const { isAdminKey } = await import('../../lib/admin-keys');
    const metricsEndpoint = createMetricsEndpoint({
      sqs,
      queues: urlsOf(emulators.queues),
      deadLetterQueues: urlsOf(emulators.deadLetterQueues),
      known: Object.fromEntries([...countMetrics.map((name) => [name, 'Count']), ...latencyMetrics.map((name) => [name, 'Milliseconds'])]),
      defaultLabels: { service: metricsService },
      isAdminKey,
      logger: logger.child('metrics'),
    });
    cleanups.push(sendEmfTo((document) => metricsEndpoint.ingest(document)));

    // Each function gets only what it is granted, as the stack gives it (lambda-runtime.ts).
    const functions: LoadedFunction[] = [];
    for (const [name, spec] of Object.entries(wiring.functions)) {
      const environment = Object.freeze(functionEnvironment(grantsOf(spec, wiring.queues), resources, common));
      functions.push(await loadFunction(repoRoot, name, spec, environment, options.functionsFrom?.[name], options.onInvocation));
    }

    const pollers: SqsPoller[] = [];
    cleanups.push(() => Promise.all(pollers.map((poller) => poller.stop())).then(() => undefined));
    for (const fn of functions) {
      for (const trigger of fn.spec.queues ?? []) {
        const queue = emulators.queues[trigger.queue];
        pollers.push(startSqsPoller({ fn, trigger, queue, concurrency, sqs, logger: logger.child('sqs'), ...(options.redelivery ? { redelivery: options.redelivery } : {}) }));
      }
    }
    // What the handlers and the scheduler twin send is received at once, however idle the queue.
    const { sqs: handlersSqs } = await import('../../lib/aws-clients');
    cleanups.push(wakeOnSend(handlersSqs(), pollers), wakeOnSend(schedulerSqs, pollers));

    const rules = eventRules(functions, logger.child('events'));

    const everyMinute = functions.filter((fn) => fn.spec.everyMinute === true);
    if (everyMinute.length > 0) {
      const rule: MinuteRule = startMinuteRule({
        functions: everyMinute,
        intervalSeconds: 2 * tickSeconds,
        prefix: resourcePrefix,
        logger: logger.child('rule'),
      });
      cleanups.push(() => rule.stop());
    }

    // Last, so that requests arrive only once everything they may trigger is running; and first
    // to stop (cleanups run in reverse), so that no new work arrives while the rest drains.
    const routes: HttpRoute[] = functions.flatMap((fn) =>
      (fn.spec.routes ?? []).map((route) => ({ method: route.method, path: route.path, fn })),
    );
    const gateway: HttpGateway = await startHttpGateway({
      routes,
      hostRoutes: [metricsEndpoint.route],
      port,
      host: options.host ?? '127.0.0.1',
      logger: logger.child('http'),
    });
    cleanups.push(() => gateway.close());

    logger.info('embedded host ready', { url: gateway.url, dataDir, functions: functions.length });
    let stopped: Promise<void> | undefined;
    return {
      url: gateway.url,
      port: gateway.port,
      adminApiKey,
      webhookSecret,
      dataDir,
      tableName,
      queueUrls: urlsOf(emulators.queues),
      deadLetterQueueUrls: urlsOf(emulators.deadLetterQueues),
      endpoints: { dynamodb: emulators.dynamodbEndpoint, sqs: emulators.sqsEndpoint, scheduler: schedulerTwin.endpoint, secretsManager: secretsManagerTwin.endpoint },
      deliverEvent: (event) => rules.deliver(event),
      clock: { now, advance: advanceClock },
      stop() {
        stopped ??= cleanUp().then(() => logger.info('embedded host stopped'));
        return stopped;
      },
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}
