/**
 * Configuration, read from the function's environment (lib/environment.ts names every variable)
 * and validated once per function. Each handler declares at module scope what it needs
 * (`requireConfig`), so a function deployed without a grant it relies on fails at its cold start,
 * on every host, with a message naming the variable. Handlers never read `process.env` themselves.
 */
import { addressPolicy, parseAllowedCidrs, privateRanges, type AddressPolicy } from './health/address-policy';
import { notificationDefaultRanges } from './notifications/destination';
import { environment, env, queueUrlEnv, type Environment, type SecretName } from './environment';
import { queueNames, type QueueName } from './queues/names';

export interface Config {
  /** Empty for a function not granted the table (the ticker); lib/store refuses to run without it. */
  tableName: string;
  queueUrls: Partial<Record<QueueName, string>>;
  /** Secret that registries present, given directly (embedded host) … */
  webhookSecret: string;
  /** … or as a Secrets Manager secret (AWS). */
  webhookSecretArn?: string;
  /** The name prefix of the Secrets Manager secrets holding registries' secrets (HMAC kinds). */
  registrySecretPrefix?: string;
  /** A Secrets Manager secret holding an admin key that works without being stored in the table. */
  adminKeySecretArn?: string;
  /** Where one-time schedules go and the role they send as; only functions that create them get these. */
  scheduleGroupName?: string;
  schedulerRoleArn?: string;
  scheduleTargetArn?: string;
  /** Seconds between the two ticks the ticker sends per firing of the once-a-minute rule. */
  tickSeconds: number;
  /** Health probes one invocation runs at once. */
  healthCheckConcurrency: number;
  /** Which addresses health checks may reach (HEALTH_CHECK_ALLOWED_CIDRS; private ranges by default). */
  healthCheckPolicy: AddressPolicy;
  /** Which addresses notification deliveries may reach (NOTIFICATION_ALLOWED_CIDRS). */
  notificationPolicy: AddressPolicy;
  /** Seconds before the first retry of a failed delivery; doubled for each next. */
  notificationRetryBaseSeconds: number;
  /** The EventBridge bus recorded events go to; absent where the host has none (embedded). */
  eventBusName?: string;
  /**
   * The registry API Docker Hub pushes' digests are looked up at (DOCKER_HUB_MANIFEST_API_URL),
   * without a trailing slash; null when the look-up is off.
   */
  dockerHubManifestApiUrl: string | null;
  /** … and quay.io pushes' (QUAY_MANIFEST_API_URL); null when off. A self-hosted Quay's is its own host, or its registry's `api_url`. */
  quayManifestApiUrl: string | null;
  /** Seconds a device is told to wait before its next poll when none of its apps is in a rollout. */
  devicePollIntervalSeconds: number;
  /** … and while one is (its batch is under way). */
  devicePollIntervalActiveSeconds: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function positiveNumber(vars: Environment, name: string, fallback: number): number {
  const raw = vars[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new ConfigError(`environment variable ${name} must be a positive number, got "${raw}"`);
  }
  return value;
}

/** A whole number of seconds from 1 to a day. */
function pollSeconds(vars: Environment, name: string, fallback: number): number {
  const raw = vars[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 86_400) {
    throw new ConfigError(`environment variable ${name} must be a whole number of seconds from 1 to 86400, got "${raw}"`);
  }
  return value;
}

/** Docker Hub's registry API, where `docker pull` reads manifests. */
export const DOCKER_HUB_API_URL = 'https://registry-1.docker.io';
/** quay.io's registry API. */
export const QUAY_API_URL = 'https://quay.io';

/**
 * A registry API base URL as DOCKER_HUB_MANIFEST_API_URL and QUAY_MANIFEST_API_URL take it: http(s), no credentials,
 * query or fragment, trailing slashes dropped; null for `off`.
 * @throws Error saying what is wrong with it
 */
export function parseManifestApiUrl(raw: string): string | null {
  if (raw.trim().toLowerCase() === 'off') return null;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new Error('not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('not http or https');
  if (url.username || url.password) throw new Error('credentials do not belong in the URL');
  if (url.search || url.hash) throw new Error('no query or fragment');
  return url.href.replace(/\/+$/, '');
}

function manifestApiUrl(vars: Environment, name: string, fallback: string): string | null {
  const raw = vars[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  try {
    return parseManifestApiUrl(raw);
  } catch (error) {
    throw new ConfigError(`environment variable ${name} must be an http(s) URL of a registry API or "off", got "${raw}": ${(error as Error).message}`);
  }
}

function pollIntervals(vars: Environment): Pick<Config, 'devicePollIntervalSeconds' | 'devicePollIntervalActiveSeconds'> {
  const idle = pollSeconds(vars, env.devicePollIntervalSeconds, 300);
  const active = pollSeconds(vars, env.devicePollIntervalActiveSeconds, 15);
  if (active > idle) {
    throw new ConfigError(`environment variable ${env.devicePollIntervalActiveSeconds} (${active}) must not be longer than ${env.devicePollIntervalSeconds} (${idle})`);
  }
  return { devicePollIntervalSeconds: idle, devicePollIntervalActiveSeconds: active };
}

export function loadConfig(vars: Environment = environment()): Config {
  const queueUrls: Partial<Record<QueueName, string>> = {};
  for (const queue of queueNames) {
    const url = vars[queueUrlEnv(queue)];
    if (url) queueUrls[queue] = url;
  }
  const optional = <K extends keyof Config>(key: K, name: string) => (vars[name] ? { [key]: vars[name] } : {});
  return {
    tableName: vars[env.tableName] ?? '',
    queueUrls,
    webhookSecret: vars[env.webhookSecret] ?? '',
    ...optional('webhookSecretArn', env.webhookSecretArn),
    ...optional('adminKeySecretArn', env.adminKeySecretArn),
    ...optional('registrySecretPrefix', env.registrySecretPrefix),
    ...optional('scheduleGroupName', env.scheduleGroupName),
    ...optional('schedulerRoleArn', env.schedulerRoleArn),
    ...optional('scheduleTargetArn', env.scheduleTargetArn),
    tickSeconds: positiveNumber(vars, env.tickSeconds, 30),
    healthCheckConcurrency: Math.floor(positiveNumber(vars, env.healthCheckConcurrency, 50)),
    healthCheckPolicy: healthCheckPolicyFrom(vars),
    notificationPolicy: policyFrom(vars, env.notificationAllowedCidrs, notificationDefaultRanges),
    notificationRetryBaseSeconds: positiveNumber(vars, env.notificationRetryBaseSeconds, 30),
    ...optional('eventBusName', env.eventBusName),
    ...pollIntervals(vars),
    dockerHubManifestApiUrl: manifestApiUrl(vars, env.dockerHubManifestApiUrl, DOCKER_HUB_API_URL),
    quayManifestApiUrl: manifestApiUrl(vars, env.quayManifestApiUrl, QUAY_API_URL),
  };
}

function healthCheckPolicyFrom(vars: Environment): AddressPolicy {
  return policyFrom(vars, env.healthCheckAllowedCidrs, privateRanges);
}

function policyFrom(vars: Environment, name: string, fallback: readonly string[]): AddressPolicy {
  try {
    return addressPolicy(parseAllowedCidrs(vars[name], fallback));
  } catch (error) {
    throw new ConfigError(`environment variable ${name} is invalid: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * Per environment, so per function: on the embedded host every function shares this module but
 * each has an environment of its own (lib/environment.ts); on AWS there is one, `process.env`.
 */
const cache = new WeakMap<Environment, Config>();

/** The configuration of the function running now, read on first use. */
export function config(): Config {
  const vars = environment();
  let loaded = cache.get(vars);
  if (!loaded) {
    loaded = loadConfig(vars);
    cache.set(vars, loaded);
  }
  return loaded;
}

const missing = (name: string, why: string) => `environment variable ${name} is required but not set (${why})`;

/** The URL of a queue this function sends to; fails clearly when the wiring did not provide it. */
export function queueUrl(queue: QueueName): string {
  const url = config().queueUrls[queue];
  if (!url) throw new ConfigError(missing(queueUrlEnv(queue), `the function sends to the ${queue} queue, which its sendsTo does not grant`));
  return url;
}

/** Where registries' secrets are kept; fails clearly when the wiring did not provide it. */
export function registrySecretPrefix(): string {
  const prefix = config().registrySecretPrefix;
  if (!prefix) throw new ConfigError(missing(env.registrySecretPrefix, "the function keeps registries' secrets, which the manifest's registrySecrets does not grant it"));
  return prefix;
}

/** Where this function creates one-time schedules; fails clearly when the wiring did not provide it. */
export function scheduleSettings(): { groupName: string; roleArn: string; targetArn: string } {
  const { scheduleGroupName, schedulerRoleArn, scheduleTargetArn } = config();
  const why = 'the function creates one-time schedules, so its sendsTo must grant the queue they target';
  if (!scheduleGroupName) throw new ConfigError(missing(env.scheduleGroupName, why));
  if (!schedulerRoleArn) throw new ConfigError(missing(env.schedulerRoleArn, why));
  if (!scheduleTargetArn) throw new ConfigError(missing(env.scheduleTargetArn, why));
  return { groupName: scheduleGroupName, roleArn: schedulerRoleArn, targetArn: scheduleTargetArn };
}

/** What a handler's code relies on; each handler module declares it once, at module scope. */
export interface Needs {
  table?: boolean;
  queues?: readonly QueueName[];
  secrets?: readonly SecretName[];
  /** It creates one-time schedules (wake-ups more than 15 minutes ahead). */
  schedules?: boolean;
  /** It reads or writes registries' secrets kept in Secrets Manager. */
  registrySecrets?: boolean;
}

/**
 * Checks, for the function loading now, that its environment has everything it needs, and throws
 * one ConfigError naming every missing variable otherwise. Called at module scope, so a missing
 * grant fails the cold start, not some request later. Only the webhook secret is required of the
 * secrets: the bootstrap admin key is optional (admin keys live in the table).
 */
export function requireConfig(needs: Needs): Config {
  const loaded = config();
  const problems: string[] = [];
  if (needs.table && !loaded.tableName) problems.push(missing(env.tableName, 'the function uses the table, which the manifest does not grant it'));
  for (const queue of needs.queues ?? []) {
    if (!loaded.queueUrls[queue]) problems.push(missing(queueUrlEnv(queue), `the function sends to the ${queue} queue, which its sendsTo does not grant`));
  }
  if (needs.secrets?.includes('webhook') && !loaded.webhookSecret && !loaded.webhookSecretArn) {
    problems.push(missing(`${env.webhookSecret} or ${env.webhookSecretArn}`, 'the function verifies the webhook secret, which the manifest does not grant it'));
  }
  if (needs.registrySecrets && !loaded.registrySecretPrefix) {
    problems.push(missing(env.registrySecretPrefix, "the function keeps registries' secrets, which the manifest's registrySecrets does not grant it"));
  }
  if (needs.schedules) {
    try {
      scheduleSettings();
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems.join('; '));
  return loaded;
}
