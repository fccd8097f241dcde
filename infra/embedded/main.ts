/**
 * `npm start`: the embedded host with its settings from the environment.
 *
 *   PORT           HTTP port (default 3001; 0 picks a free one)
 *   DATA_DIR       where the table and credentials are kept (default .data; ':memory:' keeps nothing)
 *   TICK_SECONDS   seconds between ticks (default 30)
 *   ADMIN_API_KEY  admin key to use (default: the saved one, else a new one)
 *   WEBHOOK_SECRET registry webhook secret (default: the saved one, else a new one)
 *   LOG_LEVEL      debug | info | warn | error | silent (default info)
 *   LOG_FORMAT     pretty | json: how log lines look, all on stdout (default: pretty on a
 *                  terminal, JSON lines otherwise). The banner goes to stderr, so that
 *                  `npm start | jq` reads nothing but log lines.
 *   HEALTH_CHECK_ALLOWED_CIDRS  comma-separated ranges health checks may reach
 *                  (default: loopback and private ranges; link-local and metadata never)
 *   NOTIFICATION_ALLOWED_CIDRS  comma-separated ranges notification deliveries may reach
 *                  (default: loopback and every unicast range; link-local and metadata never)
 *   NOTIFICATION_RETRY_BASE_SECONDS  first retry of a failed delivery after this many seconds,
 *                  each next after twice as long (default 30)
 *   DOCKER_HUB_MANIFEST_API_URL  where a Docker Hub push's digest is looked up (default
 *                  https://registry-1.docker.io; `off`: not looked up, rollouts go by tag)
 */
import { addressPolicy, parseAllowedCidrs } from '../../lib/health/address-policy';
import { defaultLogFormat, isLogFormat, type LogFormat } from '../../lib/log-format';
import { isLogLevel, type LogLevel } from './logger';
import { startHost, type HostOptions } from './host';

// Deployed functions run on nodejs22.x; the SDK's notice about Node.js 20 concerns only this
// local process, and the lockfile pins the SDK version it runs.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

function settingsFromEnvironment(env: NodeJS.ProcessEnv): HostOptions {
  const problems: string[] = [];
  const number = (name: string, fallback: number, valid: (n: number) => boolean, rule: string) => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    const value = Number(raw);
    if (!valid(value)) problems.push(`${name} must be ${rule}, got "${raw}"`);
    return value;
  };
  const secret = (name: string) => {
    const raw = env[name];
    if (raw === undefined) return undefined;
    if (raw.trim().length < 16) problems.push(`${name} must be at least 16 characters when set`);
    return raw.trim();
  };

  const allowedCidrs = (name = 'HEALTH_CHECK_ALLOWED_CIDRS') => {
    const raw = env[name];
    if (!raw?.trim()) return undefined;
    try {
      const cidrs = parseAllowedCidrs(raw, []);
      addressPolicy(cidrs);
      return cidrs;
    } catch (error) {
      problems.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
  };

  const optionalSeconds = (name: string, option: 'devicePollIntervalSeconds' | 'devicePollIntervalActiveSeconds') =>
    env[name]?.trim() ? { [option]: number(name, 0, (n) => Number.isInteger(n) && n >= 1 && n <= 86_400, 'a whole number of seconds from 1 to 86400') } : {};
  const port = number('PORT', 3001, (n) => Number.isInteger(n) && n >= 0 && n <= 65535, 'an integer from 0 to 65535');
  const tickSeconds = number('TICK_SECONDS', 30, (n) => Number.isFinite(n) && n > 0, 'a positive number');
  const logLevel = env.LOG_LEVEL?.trim() || 'info';
  if (!isLogLevel(logLevel)) problems.push(`LOG_LEVEL must be debug, info, warn, error or silent, got "${logLevel}"`);
  const logFormat = env.LOG_FORMAT?.trim() || defaultLogFormat(process.stdout);
  if (!isLogFormat(logFormat)) problems.push(`LOG_FORMAT must be pretty or json, got "${logFormat}"`);
  const options: HostOptions = {
    port,
    tickSeconds,
    dataDir: env.DATA_DIR?.trim() || '.data',
    adminApiKey: secret('ADMIN_API_KEY'),
    webhookSecret: secret('WEBHOOK_SECRET'),
    healthCheckAllowedCidrs: allowedCidrs(),
    notificationAllowedCidrs: allowedCidrs('NOTIFICATION_ALLOWED_CIDRS'),
    ...(env.NOTIFICATION_RETRY_BASE_SECONDS?.trim()
      ? { notificationRetryBaseSeconds: number('NOTIFICATION_RETRY_BASE_SECONDS', 30, (n) => Number.isFinite(n) && n > 0 && n <= 900, 'a positive number of seconds, at most 900') }
      : {}),
    ...optionalSeconds('DEVICE_POLL_INTERVAL_SECONDS', 'devicePollIntervalSeconds'),
    ...optionalSeconds('DEVICE_POLL_INTERVAL_ACTIVE_SECONDS', 'devicePollIntervalActiveSeconds'),
    logLevel: logLevel as LogLevel,
    logFormat: logFormat as LogFormat,
  };
  if (problems.length > 0) {
    process.stderr.write(`Cannot start the embedded host:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
    process.exit(1);
  }
  return options;
}

const host = await startHost(settingsFromEnvironment(process.env)).catch((error: unknown) => {
  process.stderr.write(`Cannot start the embedded host: ${error instanceof Error ? error.message : String(error)}\n`);
  if (error instanceof Error && error.cause) process.stderr.write(`  cause: ${String(error.cause)}\n`);
  process.exit(1);
});

process.stderr.write(
  [
    '',
    'Fleet rollouts: embedded host running',
    '',
    `  API             ${host.url}/api/v1`,
    `  Dashboard       ${host.url}/dashboard (log in with the admin API key)`,
    `  Admin API key   ${host.adminApiKey}`,
    `  Webhook secret  ${host.webhookSecret}`,
    `  Data            ${host.dataDir === ':memory:' ? 'in memory (nothing is kept)' : host.dataDir}`,
    '',
    'Try:',
    `  curl -H "Authorization: Bearer ${host.adminApiKey}" ${host.url}/api/v1/rollouts`,
    '',
    'Ctrl-C stops (a second Ctrl-C forces it).',
    '',
  ].join('\n'),
);

let stopping = false;
const onSignal = (signal: NodeJS.Signals) => {
  if (stopping) {
    process.stderr.write(`${signal} again: exiting without waiting\n`);
    process.exit(130);
  }
  stopping = true;
  process.stderr.write(`${signal}: stopping (waiting for work in flight)\n`);
  host.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`stopping failed: ${String(error)}\n`);
      process.exit(1);
    },
  );
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
