/**
 * Configuration, read from the environment once and validated, so a missing setting fails at
 * start with a message that names it. Handlers never read `process.env` themselves.
 */
import { addressPolicy, parseAllowedCidrs, privateRanges, type AddressPolicy } from './health/address-policy';
import { queueNames, queueUrlEnv, scheduleGroupNameEnv, schedulerRoleArnEnv, scheduleTargetArnEnv, type QueueName } from './queues/names';

export interface Config {
  /** Empty for a function that uses no table (the ticker); lib/store refuses to run without it. */
  tableName: string;
  queueUrls: Partial<Record<QueueName, string>>;
  /** Secret that registries present, given directly (embedded host) … */
  webhookSecret: string;
  /** … or as a Secrets Manager secret (AWS). */
  webhookSecretArn?: string;
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
}

let cached: Config | undefined;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function positiveNumber(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new ConfigError(`environment variable ${name} must be a positive number, got "${raw}"`);
  }
  return value;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const queueUrls: Partial<Record<QueueName, string>> = {};
  for (const queue of queueNames) {
    const url = env[queueUrlEnv(queue)];
    if (url) queueUrls[queue] = url;
  }
  return {
    tableName: env.TABLE_NAME ?? '',
    queueUrls,
    webhookSecret: env.WEBHOOK_SECRET ?? '',
    ...(env.WEBHOOK_SECRET_ARN ? { webhookSecretArn: env.WEBHOOK_SECRET_ARN } : {}),
    ...(env.ADMIN_API_KEY_SECRET_ARN ? { adminKeySecretArn: env.ADMIN_API_KEY_SECRET_ARN } : {}),
    ...(env[scheduleGroupNameEnv] ? { scheduleGroupName: env[scheduleGroupNameEnv] } : {}),
    ...(env[schedulerRoleArnEnv] ? { schedulerRoleArn: env[schedulerRoleArnEnv] } : {}),
    ...(env[scheduleTargetArnEnv] ? { scheduleTargetArn: env[scheduleTargetArnEnv] } : {}),
    tickSeconds: positiveNumber(env, 'TICK_SECONDS', 30),
    healthCheckConcurrency: Math.floor(positiveNumber(env, 'HEALTH_CHECK_CONCURRENCY', 50)),
    healthCheckPolicy: healthCheckPolicyFrom(env),
  };
}

function healthCheckPolicyFrom(env: NodeJS.ProcessEnv): AddressPolicy {
  try {
    return addressPolicy(parseAllowedCidrs(env.HEALTH_CHECK_ALLOWED_CIDRS, privateRanges));
  } catch (error) {
    throw new ConfigError(`environment variable HEALTH_CHECK_ALLOWED_CIDRS is invalid: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The configuration of this process, read on first use. */
export function config(): Config {
  cached ??= loadConfig();
  return cached;
}

/** The URL of a queue this function sends to; fails clearly when the wiring did not provide it. */
export function queueUrl(queue: QueueName): string {
  const url = config().queueUrls[queue];
  if (!url) throw new ConfigError(`environment variable ${queueUrlEnv(queue)} is required but not set`);
  return url;
}

/** Where this function creates one-time schedules; fails clearly when the wiring did not provide it. */
export function scheduleSettings(): { groupName: string; roleArn: string; targetArn: string } {
  const { scheduleGroupName, schedulerRoleArn, scheduleTargetArn } = config();
  const missing = (name: string) => new ConfigError(`environment variable ${name} is required but not set`);
  if (!scheduleGroupName) throw missing(scheduleGroupNameEnv);
  if (!schedulerRoleArn) throw missing(schedulerRoleArnEnv);
  if (!scheduleTargetArn) throw missing(scheduleTargetArnEnv);
  return { groupName: scheduleGroupName, roleArn: schedulerRoleArn, targetArn: scheduleTargetArn };
}
