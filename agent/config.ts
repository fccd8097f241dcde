/**
 * The agent's configuration, from its environment, checked once at start: a bad or missing
 * variable stops the agent with a message naming it. Credentials come from the state dir, the
 * environment, or provisioning; a provisioned token is saved before it is ever used.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { provision, ProtocolError } from './protocol';
import { readOptional, writeFileDurably } from './state-store';

export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

export type Credentials = { kind: 'token'; uuid: string; token: string } | { kind: 'provision'; key: string; name: string; uuid?: string };

export interface AgentConfig {
  apiUrl: string;
  credentials: Credentials;
  stateDir: string;
  dockerHost: string;
  ipAddress: string | undefined;
  /** `FLEET_LABELS`: reported with every report, and registered when the agent provisions itself. */
  labels: Record<string, string>;
}

const uuidPattern = /^[0-9a-zA-Z-]{1,64}$/;
// The server's rules for a label (docs/device-protocol.md), checked here so that a typo stops the agent at start.
const labelKey = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/;
const labelValue = /^([A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?)?$/;
const maxLabels = 32;

/** `ring=canary,site=berlin` as labels. */
export function parseLabels(text: string | undefined): Record<string, string> {
  const labels = new Map<string, string>();
  for (const entry of (text ?? '').split(',').map((part) => part.trim()).filter((part) => part !== '')) {
    const at = entry.indexOf('=');
    const key = at < 0 ? entry : entry.slice(0, at).trim();
    const value = at < 0 ? '' : entry.slice(at + 1).trim();
    if (at < 0) throw new ConfigError('FLEET_LABELS', `"${entry}" is not key=value (e.g. ring=canary,site=berlin)`);
    if (!labelKey.test(key)) throw new ConfigError('FLEET_LABELS', `"${key}" is not a label key: 1-63 letters, digits, "-", "_", "." or "/", starting and ending with a letter or digit`);
    if (!labelValue.test(value)) throw new ConfigError('FLEET_LABELS', `the value of ${key}, "${value}", must be at most 63 letters, digits, "-", "_", "." or "/", starting and ending with a letter or digit`);
    if (labels.has(key)) throw new ConfigError('FLEET_LABELS', `${key} is given twice`);
    labels.set(key, value);
  }
  if (labels.size > maxLabels) throw new ConfigError('FLEET_LABELS', `has ${labels.size} labels, at most ${maxLabels}`);
  return Object.fromEntries(labels);
}

/** The IPv4 address of the interface the default route leaves through, from /proc/net/route. */
export function defaultRouteAddress(routeTable: string | undefined, interfaces = networkInterfaces()): string | undefined {
  if (!routeTable) return undefined;
  const iface = routeTable
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .find((cols) => cols[1] === '00000000' && cols[7] === '00000000')?.[0];
  return iface ? interfaces[iface]?.find((a) => a.family === 'IPv4' && !a.internal)?.address : undefined;
}

function readRouteTable(): string | undefined {
  try {
    return readFileSync('/proc/net/route', 'utf8');
  } catch {
    return undefined;
  }
}

export function loadConfig(env: NodeJS.ProcessEnv, routeTable: () => string | undefined = readRouteTable): AgentConfig {
  const apiUrl = env.FLEET_API_URL?.trim();
  if (!apiUrl) throw new ConfigError('FLEET_API_URL', 'is required, e.g. https://fleet.example.com');
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    throw new ConfigError('FLEET_API_URL', `"${apiUrl}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError('FLEET_API_URL', 'must be an http:// or https:// URL');

  const uuid = env.FLEET_DEVICE_UUID?.trim() || undefined;
  if (uuid && !uuidPattern.test(uuid)) throw new ConfigError('FLEET_DEVICE_UUID', 'must be 1-64 letters, digits or "-"');
  const token = env.FLEET_DEVICE_TOKEN?.trim() || undefined;
  const key = env.FLEET_PROVISIONING_KEY?.trim() || undefined;
  const name = env.FLEET_DEVICE_NAME?.trim() || undefined;
  let credentials: Credentials;
  if (token) {
    if (!uuid) throw new ConfigError('FLEET_DEVICE_UUID', 'is required with FLEET_DEVICE_TOKEN');
    credentials = { kind: 'token', uuid, token };
  } else if (key) {
    if (!name) throw new ConfigError('FLEET_DEVICE_NAME', 'is required with FLEET_PROVISIONING_KEY');
    if (name.length > 128) throw new ConfigError('FLEET_DEVICE_NAME', 'must be at most 128 characters');
    credentials = { kind: 'provision', key, name, ...(uuid ? { uuid } : {}) };
  } else if (uuid) {
    throw new ConfigError('FLEET_DEVICE_TOKEN', 'is required with FLEET_DEVICE_UUID (or provision with FLEET_PROVISIONING_KEY and FLEET_DEVICE_NAME)');
  } else {
    throw new ConfigError('FLEET_DEVICE_TOKEN', 'set FLEET_DEVICE_UUID and FLEET_DEVICE_TOKEN, or FLEET_PROVISIONING_KEY and FLEET_DEVICE_NAME');
  }

  const stateDir = env.FLEET_STATE_DIR?.trim() || '/var/lib/fleet-agent';
  if (!stateDir.startsWith('/')) throw new ConfigError('FLEET_STATE_DIR', 'must be an absolute path');

  const dockerHost = env.DOCKER_HOST?.trim() || 'unix:///var/run/docker.sock';
  if (!/^(unix|tcp|http|https):\/\//.test(dockerHost)) throw new ConfigError('DOCKER_HOST', `"${dockerHost}" must start with unix://, tcp://, http:// or https://`);

  const ip = env.FLEET_DEVICE_IP?.trim();
  if (ip && isIP(ip) === 0) throw new ConfigError('FLEET_DEVICE_IP', `"${ip}" is not an IPv4 or IPv6 address`);
  const ipAddress = ip || defaultRouteAddress(routeTable());

  const labels = parseLabels(env.FLEET_LABELS);

  return { apiUrl: apiUrl.replace(/\/+$/, ''), credentials, stateDir, dockerHost, ipAddress, labels };
}

/**
 * The device's uuid and token: saved ones first (a restart never provisions again), then the
 * environment's, else provisioning, whose token is written to the state dir before it is used.
 */
export async function resolveCredentials(
  config: AgentConfig,
  log: (line: string) => void = () => {},
  /** The apps to register when provisioning (those the device already runs); asked only then. */
  apps: () => Promise<{ name: string; image: string }[]> = async () => [],
): Promise<{ uuid: string; token: string }> {
  mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
  const tokenFile = join(config.stateDir, 'device-token');
  const uuidFile = join(config.stateDir, 'device-uuid');
  const c = config.credentials;
  if (c.kind === 'token') return { uuid: c.uuid, token: c.token };
  const savedUuid = readOptional(uuidFile);
  const savedToken = readOptional(tokenFile);
  if (savedUuid && savedToken) return { uuid: savedUuid, token: savedToken };
  const uuid = savedUuid ?? c.uuid ?? randomUUID();
  // The uuid is kept first, so a crash mid-provisioning retries as the same device.
  if (!savedUuid) writeFileDurably(uuidFile, uuid);
  try {
    const running = await apps();
    if (running.length === 0) {
      // The server registers a device with at least one app: the ones it runs are how it learns them.
      throw new ConfigError(
        'FLEET_PROVISIONING_KEY',
        `no container on this device is labelled io.fleet-rollout.app=<name>, so there is no app to register: label the app containers it runs, or have an admin register the device with its apps and set FLEET_DEVICE_UUID and FLEET_DEVICE_TOKEN`,
      );
    }
    const labels = Object.keys(config.labels).length > 0 ? { labels: config.labels } : {};
    const provisioned = await provision(config.apiUrl, c.key, { name: c.name, uuid, apps: running, ...labels });
    writeFileDurably(uuidFile, provisioned.uuid);
    writeFileDurably(tokenFile, provisioned.token);
    log(`provisioned as ${provisioned.uuid} with ${running.map((a) => `${a.name} (${a.image})`).join(', ')}`);
    return provisioned;
  } catch (error) {
    if (error instanceof ProtocolError && error.status === 409) {
      throw new ConfigError(
        'FLEET_PROVISIONING_KEY',
        `device ${uuid} is already registered, but ${tokenFile} holds no token for it: restore that file, or set FLEET_DEVICE_UUID and FLEET_DEVICE_TOKEN`,
      );
    }
    throw error;
  }
}
