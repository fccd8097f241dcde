/**
 * What an operator sees: `npm start` (infra/embedded/main.ts, spawned as its own process) runs a
 * small staged rollout, and its stdout says each rollout and batch fact once at info, with the
 * rollout id on the line, in one format: pretty for a terminal, JSON lines when piped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Host } from '../../infra/embedded/host';
import { registerFleet, startPolling } from '../../agent/simulator/fleet';
import { waitFor } from '../support/api';
import { flow } from '../support/flow';

const repoRoot = join(import.meta.dirname, '../..');
const adminApiKey = 'fra_operator-log-test-admin-key-000000000';
const webhookSecret = 'operator-log-test-webhook-secret';

let child: ChildProcess | undefined;

afterEach(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  child = undefined;
});

/** Starts `npm start`'s entry point, runs a 2-device rollout in two batches, stops it; its stdout lines. */
async function rolloutOnTheHost(env: Record<string, string>, repository: string): Promise<{ lines: string[]; rolloutId: string; stderr: string }> {
  const started = spawn(process.execPath, ['--import', 'tsx', 'infra/embedded/main.ts'], {
    cwd: repoRoot,
    env: { ...process.env, PORT: '0', DATA_DIR: ':memory:', TICK_SECONDS: '1', LOG_LEVEL: 'info', ADMIN_API_KEY: adminApiKey, WEBHOOK_SECRET: webhookSecret, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = started;
  let stdout = '';
  let stderr = '';
  started.stdout!.on('data', (chunk: Buffer) => void (stdout += chunk.toString()));
  started.stderr!.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => started.once('exit', resolve));

  // The banner is on stderr, so that stdout carries log lines only.
  const url = await waitFor(async () => /API\s+(http:\/\/\S+)\/api\/v1/.exec(stderr)?.[1], 30_000, `the banner (stderr so far: ${stderr})`);
  const f = flow({ url, adminApiKey, webhookSecret } as Host);
  await f.createPolicy({ image_pattern: `${repository}:*`, batch_percentages: [50, 100], batch_delay_minutes: 0, update_timeout_minutes: 5 });
  const devices = await registerFleet({ apiUrl: url, adminKey: adminApiKey, size: 2, image: `${repository}:1` });
  const stopPolling = startPolling(devices, 100);
  try {
    const { body } = await f.push(repository, '2');
    const rolloutId: string = body.rollouts[0].id;
    await f.waitForStatus(rolloutId, 'completed', 30_000);
    await stopPolling();
    started.kill('SIGINT');
    expect(await exited).toBe(0);
    return { lines: stdout.split('\n').filter((line) => line !== ''), rolloutId, stderr };
  } finally {
    await stopPolling();
  }
}

const followed = (id: string) => [
  'rollout created: ',
  'rollout started: ',
  'batch 1 started: 1 device (50%)',
  'batch 1 completed: 1 updated',
  'batch 2 started: 1 device (100%)',
  'batch 2 completed: 1 updated',
  `rollout completed: 2 devices`,
].map((message) => ({ message, id }));

describe('the log of npm start', () => {
  it('is one pretty line per fact, with the function and the rollout id, when LOG_FORMAT=pretty (a terminal)', async () => {
    const { lines, rolloutId, stderr } = await rolloutOnTheHost({ LOG_FORMAT: 'pretty' }, 'oplog/pretty');
    expect(stderr).toContain('Fleet rollouts: embedded host running');
    const entry = /^\d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO |WARN |ERROR) (\S+)\s+(.*)$/;
    // Every line is an entry or, under an error, an indented continuation: nothing else on stdout.
    expect(lines.filter((line) => !entry.test(line) && !line.startsWith('    '))).toEqual([]);
    const info = lines.map((line) => entry.exec(line)).filter((m) => m?.[1] === 'INFO ').map((m) => ({ source: m![2]!, text: m![3]! }));
    for (const { message, id } of followed(rolloutId)) {
      const matching = info.filter((l) => l.text.startsWith(message) && l.text.includes(` rollout_id=${id}`));
      expect(matching, `one info line "${message}…" for ${id}\n${lines.join('\n')}`).toHaveLength(1);
    }
    expect(info.find((l) => l.text.startsWith('rollout created: '))?.source).toBe('webhook');
    expect(info.find((l) => l.text.startsWith('batch 1 started'))).toMatchObject({ source: 'batchAdvance', text: expect.stringContaining(' batch=1') });
    expect(info.find((l) => l.text.startsWith('embedded host ready'))?.source).toBe('host');
    // A device's ordinary progress is debug: not one line per device at info.
    expect(info.filter((l) => l.text.startsWith('device '))).toEqual([]);
  });

  it('is JSON lines, handlers and host alike, when stdout is not a terminal', async () => {
    const { lines, rolloutId } = await rolloutOnTheHost({}, 'oplog/json');
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const info = entries.filter((e) => e.level === 'INFO');
    for (const { message, id } of followed(rolloutId)) {
      const matching = info.filter((e) => String(e.message).startsWith(message) && e.rollout_id === id);
      expect(matching, `one info line "${message}…" for ${id}\n${lines.join('\n')}`).toHaveLength(1);
    }
    const batchStarted = info.find((e) => e.event === 'image.batch_started');
    expect(batchStarted).toMatchObject({ service: 'fleet-rollout', batch: 1, rollout_id: rolloutId });
    // Written from the rollout's outbox by whichever function reads the rollout first after the
    // change: batch-advance right after its save, or an admin's read that came in between.
    expect(['batchAdvance', 'adminRollouts']).toContain(batchStarted!.function_name);
    expect(typeof batchStarted!.function_request_id).toBe('string');
    expect(typeof batchStarted!.cold_start).toBe('boolean');
    expect(info.find((e) => e.message === 'embedded host ready')).toMatchObject({ service: 'fleet-rollout', component: 'host' });
    expect(info.filter((e) => String(e.message).startsWith('device '))).toEqual([]);
  });
});
