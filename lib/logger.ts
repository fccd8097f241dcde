/**
 * The functions' log: Powertools Logger, one instance per sandbox, built when the sandbox starts.
 * LOG_LEVEL (debug | info | warn | error | silent, default info) sets the level; LOG_FORMAT
 * (pretty | json), set by the embedded host, sets the format (see ./log-format). On AWS neither
 * format is set and the lines are Powertools' JSON, with the function name, request id and cold
 * start that `lambdaHandler` (./lambda) adds, and the rollout_id / device_uuid of the record
 * (`withLogKeys`, in ./queues/consume) or the request's route (./http/api).
 *
 *   logger.info('push received', { registry, repository, tag });
 */
import type { LogAttributes } from '@aws-lambda-powertools/logger/types';
import { env as names } from './environment';
import { FleetLogger, isLogFormat, isLogLevel } from './log-format';

function fromEnvironment(env: NodeJS.ProcessEnv): FleetLogger {
  const level = env[names.logLevel]?.trim().toLowerCase() ?? '';
  const format = env[names.logFormat]?.trim().toLowerCase() ?? '';
  return new FleetLogger({
    ...(isLogLevel(level) ? { level } : {}),
    ...(isLogFormat(format) ? { format } : {}),
  });
}

// Process-wide, like the SDK clients: on the embedded host every function logs through the one
// logger, whose LOG_LEVEL and LOG_FORMAT the host sets alike for all of them.
export const logger = fromEnvironment(process.env);

/**
 * Runs `work` with `keys` on every line it logs, then removes them, so a record's rollout id
 * never appears on the next record's lines. Keys without a value are left out.
 */
export async function withLogKeys<T>(keys: LogAttributes, work: () => Promise<T>): Promise<T> {
  const present = Object.fromEntries(Object.entries(keys).filter(([, value]) => value !== undefined && value !== ''));
  const names = Object.keys(present);
  if (names.length === 0) return work();
  logger.appendKeys(present);
  try {
    return await work();
  } finally {
    logger.removeKeys(names);
  }
}
