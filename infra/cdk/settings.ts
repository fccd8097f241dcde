/**
 * The deployment's parameters, read from CDK context and checked once. Defaults live in cdk.json
 * (`context`); override one with `-c name=value`, e.g. `npx cdk deploy -c alarmEmail=ops@example.com`.
 * Values given with `-c` arrive as strings, so numbers and booleans are parsed here.
 */
import type { Node } from 'constructs';
import { parseManifestApiUrl } from '../../lib/config';
import { addressPolicy, loopbackRanges, parseAllowedCidrs, privateRanges } from '../../lib/health/address-policy';
import { notificationDefaultRanges } from '../../lib/notifications/destination';

export interface Settings {
  /** CloudFormation stack name; also the prefix of physical queue and schedule-group names. */
  stackName: string;
  /** What happens to the table, secrets and log groups when the stack is deleted. */
  removalPolicy: 'retain' | 'destroy';
  /** Requests per second the API stage admits on average, and in a burst. */
  apiThrottlingRateLimit: number;
  apiThrottlingBurstLimit: number;
  /**
   * The same for the webhook routes, all registries together: the coarse outer limit in front of
   * each registry's own `rate_limit_per_minute` (lib/domain/rate-limit.ts), so a flood of
   * requests is refused before any function runs.
   */
  webhookThrottlingRateLimit: number;
  webhookThrottlingBurstLimit: number;
  /** Subscribes this address to the alarms (an SNS topic is created only when it is set). */
  alarmEmail?: string;
  /** A WAF web ACL in front of the API that refuses large bodies before a function runs. Costs money when idle. */
  waf: boolean;
  /** LOG_LEVEL of every function. */
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** The addresses health checks may reach (HEALTH_CHECK_ALLOWED_CIDRS). */
  healthCheckAllowedCidrs: string[];
  /** The addresses notification deliveries may reach (NOTIFICATION_ALLOWED_CIDRS). */
  notificationAllowedCidrs: string[];
  /**
   * The target state's poll hints, in seconds (DEVICE_POLL_INTERVAL_SECONDS and
   * DEVICE_POLL_INTERVAL_ACTIVE_SECONDS): how soon devices poll again while none of their apps is
   * in a rollout, and while one is. Together with the fleet size they set the API's request rate.
   */
  devicePollIntervalSeconds: number;
  devicePollIntervalActiveSeconds: number;
  /** Where Docker Hub pushes' digests are looked up, or `off` (DOCKER_HUB_MANIFEST_API_URL); Docker Hub's API when absent. */
  dockerHubManifestApiUrl?: string;
  /** The same for quay.io pushes (QUAY_MANIFEST_API_URL); quay.io's API when absent. */
  quayManifestApiUrl?: string;
}

export class SettingsError extends Error {
  override name = 'SettingsError';
}

function raw(node: Node, name: string): unknown {
  return node.tryGetContext(name);
}

function requiredString(node: Node, name: string): string {
  const value = raw(node, name);
  if (typeof value !== 'string' || value.trim() === '') {
    throw new SettingsError(`context value "${name}" is required (cdk.json sets its default; override with -c ${name}=…)`);
  }
  return value.trim();
}

function oneOf<T extends string>(node: Node, name: string, allowed: readonly T[]): T {
  const value = requiredString(node, name);
  if (!allowed.includes(value as T)) {
    throw new SettingsError(`context value "${name}" must be one of ${allowed.join(', ')}, got "${value}"`);
  }
  return value as T;
}

function positiveInteger(node: Node, name: string): number {
  const value = raw(node, name);
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number <= 0) {
    throw new SettingsError(`context value "${name}" must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return number;
}

/** Seconds a device may be told to wait before polling again: 1 s to a day, as lib/config.ts accepts. */
function pollSeconds(node: Node, name: string): number {
  const value = positiveInteger(node, name);
  if (value > 86_400) throw new SettingsError(`context value "${name}" must be at most 86400 seconds, got ${value}`);
  return value;
}

function flag(node: Node, name: string): boolean {
  const value = raw(node, name);
  if (value === undefined || value === false || value === 'false') return false;
  if (value === true || value === 'true') return true;
  throw new SettingsError(`context value "${name}" must be true or false, got ${JSON.stringify(value)}`);
}

function optionalString(node: Node, name: string): string | undefined {
  const value = raw(node, name);
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new SettingsError(`context value "${name}" must be a string, got ${JSON.stringify(value)}`);
  return value.trim();
}

/** A registry API base URL, or `off`, as a context value; undefined when absent. */
function manifestApiUrlSetting(node: Node, name: string): string | undefined {
  const value = optionalString(node, name);
  if (value === undefined) return undefined;
  try {
    parseManifestApiUrl(value);
  } catch (error) {
    throw new SettingsError(`context value "${name}" must be an http(s) URL of a registry API or "off": ${(error as Error).message}`);
  }
  return value;
}

/**
 * Ranges the functions may connect to on behalf of input (health checks to the address a device
 * reported, notifications to a subscription's URL), or `fallback` when absent. They run inside
 * Lambda, where loopback is the Lambda runtime's own API: neither may ever be steered there,
 * whatever an operator lists.
 */
function allowedCidrs(node: Node, name: string, fallback: readonly string[]): string[] {
  const configured = optionalString(node, name);
  let cidrs: string[];
  try {
    cidrs = parseAllowedCidrs(configured, fallback);
  } catch (error) {
    throw new SettingsError(`context value "${name}" is invalid: ${error instanceof Error ? error.message : String(error)}`);
  }
  // A range overlaps loopback if it contains all of it (then it allows 127.0.0.1 or ::1) or lies
  // inside it (then its network address is a loopback address).
  const policy = addressPolicy(cidrs);
  const loopback = addressPolicy(loopbackRanges);
  const offending = cidrs.filter((cidr) => loopback.allows(cidr.split('/')[0]!));
  if (policy.allows('127.0.0.1')) offending.push('127.0.0.1');
  if (policy.allows('::1')) offending.push('::1');
  if (offending.length > 0) {
    throw new SettingsError(`context value "${name}" must not allow loopback (${offending.join(', ')}): on Lambda it reaches the runtime API`);
  }
  return cidrs;
}

export function readSettings(node: Node): Settings {
  const stackName = requiredString(node, 'stackName');
  if (!/^[a-z][a-z0-9-]{0,39}$/.test(stackName)) {
    // Lower case and short: it prefixes queue names (80 characters at most, ".fifo" included).
    throw new SettingsError(`context value "stackName" must be lower-case letters, digits and hyphens, at most 40, got "${stackName}"`);
  }
  const alarmEmail = optionalString(node, 'alarmEmail');
  if (alarmEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(alarmEmail)) {
    throw new SettingsError(`context value "alarmEmail" is not an email address: "${alarmEmail}"`);
  }
  const dockerHubManifestApiUrl = manifestApiUrlSetting(node, 'dockerHubManifestApiUrl');
  const quayManifestApiUrl = manifestApiUrlSetting(node, 'quayManifestApiUrl');
  const settings: Settings = {
    stackName,
    removalPolicy: oneOf(node, 'removalPolicy', ['retain', 'destroy'] as const),
    apiThrottlingRateLimit: positiveInteger(node, 'apiThrottlingRateLimit'),
    apiThrottlingBurstLimit: positiveInteger(node, 'apiThrottlingBurstLimit'),
    webhookThrottlingRateLimit: positiveInteger(node, 'webhookThrottlingRateLimit'),
    webhookThrottlingBurstLimit: positiveInteger(node, 'webhookThrottlingBurstLimit'),
    ...(alarmEmail ? { alarmEmail } : {}),
    waf: flag(node, 'waf'),
    logLevel: oneOf(node, 'logLevel', ['debug', 'info', 'warn', 'error'] as const),
    healthCheckAllowedCidrs: allowedCidrs(node, 'healthCheckAllowedCidrs', privateRanges),
    notificationAllowedCidrs: allowedCidrs(node, 'notificationAllowedCidrs', notificationDefaultRanges),
    devicePollIntervalSeconds: pollSeconds(node, 'devicePollIntervalSeconds'),
    devicePollIntervalActiveSeconds: pollSeconds(node, 'devicePollIntervalActiveSeconds'),
    ...(dockerHubManifestApiUrl ? { dockerHubManifestApiUrl } : {}),
    ...(quayManifestApiUrl ? { quayManifestApiUrl } : {}),
  };
  if (settings.apiThrottlingBurstLimit < settings.apiThrottlingRateLimit) {
    throw new SettingsError('context value "apiThrottlingBurstLimit" must be at least "apiThrottlingRateLimit"');
  }
  if (settings.webhookThrottlingBurstLimit < settings.webhookThrottlingRateLimit) {
    throw new SettingsError('context value "webhookThrottlingBurstLimit" must be at least "webhookThrottlingRateLimit"');
  }
  if (settings.webhookThrottlingRateLimit > settings.apiThrottlingRateLimit || settings.webhookThrottlingBurstLimit > settings.apiThrottlingBurstLimit) {
    throw new SettingsError('context values "webhookThrottling…" must not exceed "apiThrottling…": the stage limit applies to the webhook routes too');
  }
  if (settings.devicePollIntervalActiveSeconds > settings.devicePollIntervalSeconds) {
    throw new SettingsError('context value "devicePollIntervalActiveSeconds" must not be longer than "devicePollIntervalSeconds"');
  }
  return settings;
}
