/**
 * The embedded host's own log (invocations, polls, failures), written by the same Powertools
 * logger class and formatter as the handlers' lines, so that the process prints one format on
 * one stream (stdout): `pretty` on a terminal, `json` otherwise (see lib/log-format.ts). Each
 * line names the part of the host that wrote it in its `component` key.
 */
import { FleetLogger, type LogFormat, type LogLevel } from '../../lib/log-format';

export { isLogLevel, logLevels, type LogLevel } from '../../lib/log-format';

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** The same log, with every line tagged by the part of the host that wrote it. */
  child(component: string): Logger;
}

export interface HostLogOptions {
  level: LogLevel;
  format: LogFormat;
  /** Where lines go. Default process.stdout. */
  sink?: (line: string) => void;
}

export function createLogger(options: HostLogOptions, component = 'host'): Logger {
  const logger = new FleetLogger({ ...options, persistentKeys: { component } });
  return {
    debug: (message, fields) => logger.debug(message, fields),
    info: (message, fields) => logger.info(message, fields),
    warn: (message, fields) => logger.warn(message, fields),
    error: (message, fields) => logger.error(message, fields),
    child: (name) => createLogger(options, name),
  };
}
