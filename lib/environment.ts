/**
 * The functions' environment contract: every variable a function may be given and what it means,
 * which of them a function gets for what it is granted, and the one accessor lib/config.ts reads
 * them through. The CDK stack and the embedded host both build each function's environment with
 * `functionEnvironment`, from the grants the manifest declares, so the two cannot name a variable
 * differently or hand a function something it was not granted.
 */
import { queueNames, type QueueName } from './queues/names';

/** Every variable of the contract, by what it carries. */
export const env = {
  /** The single table; given to functions granted `table`. */
  tableName: 'TABLE_NAME',
  /** The secret registries present, as its value (embedded host) … */
  webhookSecret: 'WEBHOOK_SECRET',
  /** … or as the ARN of the Secrets Manager secret holding it (AWS). */
  webhookSecretArn: 'WEBHOOK_SECRET_ARN',
  /**
   * The name prefix of the Secrets Manager secrets that hold registries' secrets where a hash
   * will not do (HMAC kinds); given to functions granted `registrySecrets`.
   */
  registrySecretPrefix: 'REGISTRY_SECRET_PREFIX',
  /** A Secrets Manager secret holding a bootstrap admin key that works without being stored in the table (AWS). */
  adminKeySecretArn: 'ADMIN_API_KEY_SECRET_ARN',
  /** The EventBridge Scheduler group one-time schedules are created in; for functions that create them. */
  scheduleGroupName: 'SCHEDULE_GROUP_NAME',
  /** The role one-time schedules send as. */
  schedulerRoleArn: 'SCHEDULER_ROLE_ARN',
  /** The ARN of the queue one-time schedules send to (a schedule's target is an ARN, not a URL). */
  scheduleTargetArn: 'SCHEDULE_TARGET_QUEUE_ARN',
  /** Seconds between the two ticks the ticker sends per firing of the once-a-minute rule. Default 30. */
  tickSeconds: 'TICK_SECONDS',
  /** Health probes one invocation runs at once. Default 50. */
  healthCheckConcurrency: 'HEALTH_CHECK_CONCURRENCY',
  /** Comma-separated ranges health checks may reach. Default: the private ranges. */
  healthCheckAllowedCidrs: 'HEALTH_CHECK_ALLOWED_CIDRS',
  /** Seconds a device waits before its next poll while none of its apps is in a rollout. Default 300. */
  devicePollIntervalSeconds: 'DEVICE_POLL_INTERVAL_SECONDS',
  /** … while one is (its batch is under way); at most the former. Default 15. */
  devicePollIntervalActiveSeconds: 'DEVICE_POLL_INTERVAL_ACTIVE_SECONDS',
  /** Comma-separated ranges notification deliveries may reach. Default: all unicast but loopback (lib/notifications/destination.ts). */
  notificationAllowedCidrs: 'NOTIFICATION_ALLOWED_CIDRS',
  /** Seconds before the first retry of a failed notification delivery; each next waits twice as long (at most 15 minutes). Default 30. */
  notificationRetryBaseSeconds: 'NOTIFICATION_RETRY_BASE_SECONDS',
  /**
   * Where the digest of a Docker Hub push is looked up (its webhook names none): the base URL of a
   * registry API (OCI distribution spec, without `/v2`). Default https://registry-1.docker.io;
   * `off` looks nothing up, so its rollouts target the tag.
   */
  dockerHubManifestApiUrl: 'DOCKER_HUB_MANIFEST_API_URL',
  /** The same for a push to quay.io: default https://quay.io; `off` looks nothing up. */
  quayManifestApiUrl: 'QUAY_MANIFEST_API_URL',
  /** The EventBridge bus every recorded event goes to; given to functions granted `putsEvents` where the host has a bus (AWS). */
  eventBusName: 'EVENT_BUS_NAME',
  /** debug | info | warn | error | silent. Default info. */
  logLevel: 'LOG_LEVEL',
  /** pretty | json; set by the embedded host only (on AWS the lines are Powertools' JSON). */
  logFormat: 'LOG_FORMAT',
} as const;

/** The variable that carries a queue's URL to the functions that send to it: `TARGETS_QUEUE_URL`. */
export function queueUrlEnv(queue: QueueName): string {
  return `${queue.toUpperCase()}_QUEUE_URL`;
}

export type TableAccess = 'read' | 'read-write';
/** `read`: GetSecretValue; `write`: create, put and delete, never read (the admin API only writes them). */
export type RegistrySecretAccess = 'read' | 'write';
export const secretNames = ['webhook', 'adminKey'] as const;
export type SecretName = (typeof secretNames)[number];

/** What a function is granted, as the manifest declares it (infra/manifest.ts `grantsOf`). */
export interface Grants {
  table?: TableAccess;
  sendsTo?: readonly QueueName[];
  secrets?: readonly SecretName[];
  /** It creates one-time schedules (it sends to the queue they target). */
  createsSchedules?: boolean;
  /** It puts events on the EventBridge bus (where the host has one). */
  putsEvents?: boolean;
  /** The registries' secrets kept in Secrets Manager, under the host's prefix. */
  registrySecrets?: RegistrySecretAccess;
}

/** A secret as a host holds it: its value (embedded host) or a Secrets Manager ARN (AWS). */
export type SecretSource = { value: string } | { arn: string };

/**
 * What a host has to hand out. Strings here may be CDK tokens: the stack passes references that
 * CloudFormation resolves. A secret the host does not hold is not given (the embedded host keeps
 * the admin key in the table instead of a secret).
 */
export interface HostResources {
  tableName: string;
  queueUrls: Readonly<Record<QueueName, string>>;
  secrets: { webhook?: SecretSource; adminKey?: { arn: string } };
  schedules?: { groupName: string; roleArn: string; targetArn: string };
  /** The EventBridge bus recorded events go to; none on the embedded host. */
  eventBusName?: string;
  /** Where registries' secrets are kept in Secrets Manager (or the embedded host's twin of it). */
  registrySecretPrefix?: string;
}

/** Settings every function gets alike. */
export interface CommonSettings {
  tickSeconds: number;
  healthCheckAllowedCidrs: readonly string[];
  /** The poll interval hints of the target state; the defaults (lib/config.ts) when absent. */
  devicePollIntervalSeconds?: number;
  devicePollIntervalActiveSeconds?: number;
  /** Where notifications may be delivered, and how soon a failed delivery is retried; the defaults (lib/config.ts) when absent. */
  notificationAllowedCidrs?: readonly string[];
  notificationRetryBaseSeconds?: number;
  /** Where Docker Hub pushes' digests are looked up, or `off`; the default (lib/config.ts) when absent. */
  dockerHubManifestApiUrl?: string;
  /** … and quay.io pushes'. */
  quayManifestApiUrl?: string;
  logLevel?: string;
  logFormat?: string;
}

/** The variables a function with these grants gets: exactly what it is granted, and the common settings. */
export function functionEnvironment(grants: Grants, resources: HostResources, common: CommonSettings): Record<string, string> {
  const variables: Record<string, string> = {
    [env.tickSeconds]: String(common.tickSeconds),
    [env.healthCheckAllowedCidrs]: common.healthCheckAllowedCidrs.join(','),
    ...(common.devicePollIntervalSeconds !== undefined ? { [env.devicePollIntervalSeconds]: String(common.devicePollIntervalSeconds) } : {}),
    ...(common.devicePollIntervalActiveSeconds !== undefined ? { [env.devicePollIntervalActiveSeconds]: String(common.devicePollIntervalActiveSeconds) } : {}),
    ...(common.notificationAllowedCidrs !== undefined ? { [env.notificationAllowedCidrs]: common.notificationAllowedCidrs.join(',') } : {}),
    ...(common.notificationRetryBaseSeconds !== undefined ? { [env.notificationRetryBaseSeconds]: String(common.notificationRetryBaseSeconds) } : {}),
    ...(common.dockerHubManifestApiUrl ? { [env.dockerHubManifestApiUrl]: common.dockerHubManifestApiUrl } : {}),
    ...(common.quayManifestApiUrl ? { [env.quayManifestApiUrl]: common.quayManifestApiUrl } : {}),
    ...(common.logLevel ? { [env.logLevel]: common.logLevel } : {}),
    ...(common.logFormat ? { [env.logFormat]: common.logFormat } : {}),
  };
  if (grants.table) variables[env.tableName] = resources.tableName;
  for (const queue of grants.sendsTo ?? []) variables[queueUrlEnv(queue)] = resources.queueUrls[queue];
  const secrets = grants.secrets ?? [];
  const webhook = resources.secrets.webhook;
  if (secrets.includes('webhook') && webhook) {
    if ('value' in webhook) variables[env.webhookSecret] = webhook.value;
    else variables[env.webhookSecretArn] = webhook.arn;
  }
  const adminKey = resources.secrets.adminKey;
  if (secrets.includes('adminKey') && adminKey) variables[env.adminKeySecretArn] = adminKey.arn;
  if (grants.createsSchedules && resources.schedules) {
    variables[env.scheduleGroupName] = resources.schedules.groupName;
    variables[env.schedulerRoleArn] = resources.schedules.roleArn;
    variables[env.scheduleTargetArn] = resources.schedules.targetArn;
  }
  if (grants.putsEvents && resources.eventBusName) variables[env.eventBusName] = resources.eventBusName;
  if (grants.registrySecrets && resources.registrySecretPrefix) variables[env.registrySecretPrefix] = resources.registrySecretPrefix;
  return variables;
}

/** Every grant there is: what a host gives code that runs outside any one function (its own setup, tests). */
export const allGrants: Required<Grants> = {
  table: 'read-write',
  sendsTo: queueNames,
  secrets: secretNames,
  createsSchedules: true,
  putsEvents: true,
  registrySecrets: 'read',
};

export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * Where the embedded host puts the invoked function's own variables in each invocation's context
 * (the Lambda invoke store, an AsyncLocalStorage). A symbol, so it cannot clash with a key
 * Lambda or Powertools keep there.
 */
export const functionEnvironmentKey = Symbol.for('fleet-rollout.function-environment');

interface InvokeStoreLike {
  get(key: symbol): unknown;
}

/**
 * The variables of the function running now. On AWS that is `process.env`: each function has a
 * sandbox of its own. On the embedded host, where every function shares one process, it is the
 * function's own environment from the invocation's context (Powertools finds the store the same
 * way), and `process.env` only outside any invocation.
 */
export function environment(): Environment {
  const store = (globalThis as { awslambda?: { InvokeStore?: InvokeStoreLike } }).awslambda?.InvokeStore;
  return (store?.get(functionEnvironmentKey) as Environment | undefined) ?? process.env;
}
