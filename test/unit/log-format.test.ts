import { describe, expect, it } from 'vitest';
import { defaultLogFormat, FleetLogger, renderPretty, type LogFormat, type LogLevel } from '../../lib/log-format';

function capture(format: LogFormat, level: LogLevel = 'debug', persistentKeys?: Record<string, unknown>) {
  const lines: string[] = [];
  const logger = new FleetLogger({ format, level, sink: (line) => lines.push(line), ...(persistentKeys ? { persistentKeys } : {}) });
  return { logger, lines };
}

describe('pretty lines', () => {
  it('put time, level, source and message in columns, then the correlation keys first', () => {
    const line = renderPretty({
      level: 'INFO',
      message: 'batch 2 started: 5 devices (50%)',
      timestamp: '2026-12-01T20:31:02.123Z',
      service: 'fleet-rollout',
      function_name: 'batchAdvance',
      function_request_id: 'c0ffee',
      cold_start: true,
      devices: 5,
      batch: 2,
      rollout_id: 'ro-1',
      event: 'image.batch_started',
    });
    expect(line).toBe('20:31:02.123 INFO  batchAdvance    batch 2 started: 5 devices (50%) rollout_id=ro-1 batch=2 devices=5');
  });

  it('quote values with spaces, leave out empty ones and what the message already says', () => {
    const reason = "failure rate 40.0% exceeds the policy's maximum of 20.0%";
    const line = renderPretty({ level: 'INFO', message: `rollout paused: ${reason}`, timestamp: '2026-12-01T00:00:00.000Z', component: 'host', reason, note: 'two words', gone: undefined, blank: '' });
    expect(line).toBe(`00:00:00.000 INFO  host            rollout paused: ${reason} note="two words"`);
  });

  it('follow an error with its stack, indented', () => {
    const error = new Error('table is gone');
    const [first, ...rest] = renderPretty({ level: 'ERROR', message: 'message failed', timestamp: '2026-12-01T00:00:00.000Z', error }).split('\n');
    expect(first).toBe('00:00:00.000 ERROR fleet-rollout   message failed error="table is gone"');
    expect(rest.join('\n')).toContain('    Error: table is gone');
    expect(rest.some((line) => line.includes('log-format.test.ts'))).toBe(true);
  });
});

describe('FleetLogger', () => {
  it('prints pretty lines to its sink, with the persistent component as the source', () => {
    const { logger, lines } = capture('pretty', 'info', { component: 'sqs' });
    logger.info('rollout created: acme/app:2', { rollout_id: 'ro-9' });
    logger.debug('not at info');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  sqs             rollout created: acme\/app:2 rollout_id=ro-9$/);
  });

  it('prints Powertools JSON, one object a line, errors included, warnings on the same sink', () => {
    const { logger, lines } = capture('json', 'info');
    logger.warn('re-sending', { rollout_id: 'ro-9', batch: 1 });
    logger.error('message failed', { error: new Error('boom') });
    const [warning, failure] = lines.map((line) => JSON.parse(line));
    expect(warning).toMatchObject({ level: 'WARN', message: 're-sending', service: 'fleet-rollout', rollout_id: 'ro-9', batch: 1 });
    expect(typeof warning.timestamp).toBe('string');
    expect(failure).toMatchObject({ level: 'ERROR', error: { name: 'Error', message: 'boom' } });
    expect(failure.error.stack).toContain('boom');
  });

  it("takes the project's (message, fields?) calls, fields undefined included", () => {
    const { logger, lines } = capture('json', 'info');
    const fields: Record<string, unknown> | undefined = undefined as Record<string, unknown> | undefined;
    logger.info('push received', fields);
    logger.info('push received', { registry: 'docker-hub', repository: 'acme/app', tag: '2' });
    expect(lines.map((line) => JSON.parse(line))).toMatchObject([
      { message: 'push received' },
      { message: 'push received', registry: 'docker-hub', repository: 'acme/app', tag: '2' },
    ]);
  });

  it('prints nothing at silent', () => {
    const { logger, lines } = capture('json', 'silent');
    logger.error('not even this');
    expect(lines).toEqual([]);
  });
});

describe('the default format', () => {
  it('is pretty on a terminal and JSON lines otherwise', () => {
    expect(defaultLogFormat({ isTTY: true })).toBe('pretty');
    expect(defaultLogFormat({ isTTY: false })).toBe('json');
    expect(defaultLogFormat({})).toBe('json');
  });
});
