/**
 * How log lines look. On AWS they are Powertools' JSON, which CloudWatch Logs Insights queries
 * well. The embedded host sets LOG_FORMAT, and then every line of the process (its own and the
 * handlers') goes to stdout in that one format: `pretty`, one readable line per entry for a
 * terminal, or `json`, the same JSON as on AWS, one object a line for CI and jq.
 */
import { inspect } from 'node:util';
import { Logger, LogFormatter, LogItem } from '@aws-lambda-powertools/logger';
import type { ConstructorOptions, LogAttributes, LogItemExtraInput, LogItemMessage, UnformattedAttributes } from '@aws-lambda-powertools/logger/types';

export const serviceName = 'fleet-rollout';

export const logFormats = ['pretty', 'json'] as const;
export type LogFormat = (typeof logFormats)[number];

export const logLevels = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

export function isLogFormat(value: string): value is LogFormat {
  return (logFormats as readonly string[]).includes(value);
}

export function isLogLevel(value: string): value is LogLevel {
  return (logLevels as readonly string[]).includes(value);
}

/** Readable lines for a person at a terminal, JSON lines for anything reading a pipe or a file. */
export function defaultLogFormat(stream: { isTTY?: boolean }): LogFormat {
  return stream.isTTY ? 'pretty' : 'json';
}

/** What every JSON line carries; a pretty line shows these in its columns or leaves them out. */
const standardKeys = new Set([
  'level',
  'message',
  'timestamp',
  'service',
  'cold_start',
  'function_arn',
  'function_memory_size',
  'function_name',
  'function_request_id',
  'sampling_rate',
  'xray_trace_id',
  'tenant_id',
  'component',
  // The event type is there for machines (jq filters); the message says it in words.
  'event',
]);

/** Correlation keys first, so the eye finds them at the same place on every line. */
const leadingKeys = ['rollout_id', 'device_uuid', 'batch', 'reason'];

function fieldValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object' && value !== null) return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
  return String(value);
}

function isEmpty(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

/**
 * One entry as a line: `20:31:02.123 INFO  batchAdvance    rollout paused: … rollout_id=ro-1 batch=2`.
 * The source column is the host's component or the function that wrote the line; errors follow
 * on their own lines, stack and all, because that is what a developer needs to see.
 */
export function renderPretty(attributes: Record<string, unknown>): string {
  const time = new Date(String(attributes.timestamp ?? new Date().toISOString()));
  const clock = Number.isNaN(time.getTime()) ? String(attributes.timestamp) : time.toISOString().slice(11, 23);
  const level = String(attributes.level ?? 'INFO').toUpperCase();
  const source = String(attributes.component ?? attributes.function_name ?? attributes.service ?? serviceName);
  const message = String(attributes.message ?? '');
  // A field the message already says in words (a pause's reason) is not said twice.
  const said = (value: unknown) => typeof value === 'string' && value.length >= 8 && message.includes(value);
  const keys = Object.keys(attributes).filter((key) => !standardKeys.has(key) && !isEmpty(attributes[key]) && !said(attributes[key]));
  const ordered = [...leadingKeys.filter((key) => keys.includes(key)), ...keys.filter((key) => !leadingKeys.includes(key))];
  const errors: unknown[] = [];
  const fields: string[] = [];
  for (const key of ordered) {
    const value = attributes[key];
    if (value instanceof Error) {
      fields.push(`${key}=${fieldValue(value.message)}`);
      errors.push(value);
    } else {
      fields.push(`${key}=${fieldValue(value)}`);
    }
  }
  const head = `${clock} ${level.padEnd(5)} ${source.padEnd(15)} ${message}`;
  const line = fields.length > 0 ? `${head} ${fields.join(' ')}` : head;
  return [line, ...errors.map((error) => inspect(error, { depth: 4 }).replace(/^/gm, '    '))].join('\n');
}

/** A log item that is already text. */
class TextLogItem extends LogItem {
  constructor(
    attributes: LogAttributes,
    readonly text: string,
  ) {
    super({ attributes });
  }
}

/**
 * The keys of Powertools' JSON (its own formatter is not exported), rendered as one pretty line.
 * Powertools prints every item as JSON, so `FleetLogger` below prints this formatter's items as
 * the text they are.
 */
export class PrettyLogFormatter extends LogFormatter {
  override formatAttributes(attributes: UnformattedAttributes, additionalLogAttributes: LogAttributes): LogItem {
    const context = attributes.lambdaContext;
    const structured = new LogItem({
      attributes: {
        level: attributes.logLevel,
        message: attributes.message,
        timestamp: this.formatTimestamp(attributes.timestamp),
        service: attributes.serviceName,
        cold_start: context?.coldStart,
        function_name: context?.functionName,
        function_request_id: context?.awsRequestId,
      },
    })
      .addAttributes(additionalLogAttributes)
      .getAttributes();
    return new TextLogItem(structured, renderPretty(structured));
  }
}

export interface FleetLoggerOptions {
  /** Unset: Powertools' JSON through its own console, info to stdout and warnings to stderr (AWS). */
  format?: LogFormat;
  level?: LogLevel;
  /** Keys on every line, e.g. the embedded host's `component`. */
  persistentKeys?: LogAttributes;
  /** Where lines go when `format` is set. Default process.stdout. */
  sink?: (line: string) => void;
}

function defined(extraInput: LogItemExtraInput | [LogAttributes | undefined]): LogItemExtraInput {
  return extraInput.filter((item) => item !== undefined) as LogItemExtraInput;
}

/**
 * Powertools' Logger, printing in the chosen format. With a format set, every level goes to one
 * sink (stdout), so that lines keep their order and one pipe carries them all.
 */
export class FleetLogger extends Logger {
  // Not a #private field: Powertools may print from its constructor, before fields exist.
  private readonly sink: ((line: string) => void) | undefined;

  constructor(options: FleetLoggerOptions = {}) {
    const constructorOptions: ConstructorOptions = {
      serviceName,
      ...(options.level ? { logLevel: options.level.toUpperCase() as Uppercase<LogLevel> } : {}),
      ...(options.persistentKeys ? { persistentKeys: options.persistentKeys } : {}),
      ...(options.format === 'pretty' ? { logFormatter: new PrettyLogFormatter() } : {}),
    };
    super(constructorOptions);
    this.sink = options.format ? (options.sink ?? ((line) => void process.stdout.write(`${line}\n`))) : undefined;
  }

  /**
   * Powertools' methods, also taking the project's `(message, fields?)` with `fields` possibly
   * undefined, which Powertools ignores at run time but its types refuse.
   */
  override debug(input: LogItemMessage, ...extraInput: LogItemExtraInput | [LogAttributes | undefined]): void {
    super.debug(input, ...defined(extraInput));
  }

  override info(input: LogItemMessage, ...extraInput: LogItemExtraInput | [LogAttributes | undefined]): void {
    super.info(input, ...defined(extraInput));
  }

  override warn(input: LogItemMessage, ...extraInput: LogItemExtraInput | [LogAttributes | undefined]): void {
    super.warn(input, ...defined(extraInput));
  }

  override error(input: LogItemMessage, ...extraInput: LogItemExtraInput | [LogAttributes | undefined]): void {
    super.error(input, ...defined(extraInput));
  }

  protected override printLog(logLevel: number, log: LogItem): void {
    if (!this.sink) return super.printLog(logLevel, log);
    if (log instanceof TextLogItem) return this.sink(log.text);
    log.prepareForPrint();
    this.sink(JSON.stringify(log.getAttributes(), this.getJsonReplacer()));
  }
}
