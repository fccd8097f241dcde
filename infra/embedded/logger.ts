/**
 * The embedded host's own log: one plain line per entry on stderr, so that stdout stays free for
 * the banner and a developer can read it while a rollout runs. Handlers log however they like;
 * this is only for what the host itself does (invocations, polls, failures).
 */
import { inspect } from 'node:util';

export const logLevels = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** The same log, with every line tagged by the part of the host that wrote it. */
  child(component: string): Logger;
}

export function isLogLevel(value: string): value is LogLevel {
  return (logLevels as readonly string[]).includes(value);
}

export function createLogger(level: LogLevel, component = 'host'): Logger {
  const threshold = logLevels.indexOf(level);
  const write = (entryLevel: Exclude<LogLevel, 'silent'>, message: string, fields?: LogFields) => {
    if (logLevels.indexOf(entryLevel) < threshold) return;
    const time = new Date().toISOString().slice(11, 23);
    const { error, ...rest } = fields ?? {};
    const details = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
    // Errors go last and in full: a handler's stack trace is what a developer needs to see.
    const failure = error === undefined ? '' : `\n${inspect(error, { depth: 4 })}`;
    process.stderr.write(
      `${time} ${entryLevel.toUpperCase().padEnd(5)} ${component.padEnd(8)} ${message}${details}${failure}\n`,
    );
  };
  return {
    debug: (message, fields) => write('debug', message, fields),
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
    child: (name) => createLogger(level, name),
  };
}
