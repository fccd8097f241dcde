/** `fleet rollouts …`: list, read, watch and steer rollouts. */
import { Writable } from 'node:stream';
import { Command, InvalidArgumentError, Option } from 'commander';
import { eventOrder, viewTime, type AdminClient, type RolloutDetail, type RolloutView, type Statistics } from '../../client/admin-client';
import { label, noteworthy, percent, renderLive } from '../../client/render';
import { exitCodes, RolloutNotCompleted, watchExitCode } from '../exit-codes';
import { segment, session, styleOf, type Io } from '../session';
import { renderTable, shortTime, type Column } from '../table';
import { watchRollout } from '../watch';
import { limitOption, printList } from './lists';

const rolloutStatuses = ['pending', 'in_progress', 'paused', 'completed', 'cancelled', 'rolled_back', 'failed'];

type RolloutSummary = RolloutView & { statistics: Statistics };

const columns: Column<RolloutSummary>[] = [
  { header: 'ID', value: (r) => r.id },
  { header: 'IMAGE', value: (r) => r.image },
  { header: 'STATUS', value: (r) => r.status },
  { header: 'BATCH', value: (r) => `${r.current_batch}/${r.batches.length}`, align: 'right' },
  { header: 'DEVICES', value: (r) => String(r.total_devices), align: 'right' },
  { header: 'DONE', value: (r) => `${r.statistics.progress_percent}%`, align: 'right' },
  { header: 'FAILED', value: (r) => percent(r.statistics.failure_rate), align: 'right' },
  { header: 'CREATED', value: (r) => shortTime(r.created_at) },
];

function seconds(value: string): number {
  const n = Number(value);
  if (!(n >= 0.2 && n <= 3600)) throw new InvalidArgumentError('must be a number of seconds from 0.2 to 3600');
  return n;
}

export function rolloutCommands(io: Io): Command {
  const rollouts = new Command('rollouts').description('list, read, watch and steer rollouts');

  limitOption(
    rollouts
      .command('list')
      .description('rollouts, newest first')
      .addOption(new Option('--status <status>', 'only rollouts in this status').choices(rolloutStatuses))
      .option('--image <name>', 'only rollouts of this image name (repository)'),
  ).action(async (options: { status?: string; image?: string; limit?: number; cursor?: string }, command: Command) => {
    const s = session(io, command);
    const query = new URLSearchParams({ ...(options.status ? { status: options.status } : {}), ...(options.image ? { image_name: options.image } : {}) });
    await printList<RolloutSummary>(s, `/api/v1/rollouts${query.size ? `?${query}` : ''}`, 'rollouts', options, (rows) => renderTable(columns, rows));
  });

  rollouts
    .command('get')
    .description("one rollout: its batches, device counts, failure rate and latest events")
    .argument('<id>', 'rollout id (ro-…)')
    .action(async (id: string, _options: unknown, command: Command) => {
      const s = session(io, command);
      const detail = await s.api.rollout(id);
      s.show(detail, () => {
        const now = viewTime(detail.rollout, Date.now());
        const events = [...detail.events].sort(eventOrder).filter(noteworthy);
        const startedAt = Date.parse(detail.rollout.created_at);
        return renderLive(styleOf(io), { title: `rollout ${detail.rollout.id}`, startedAt, now, toImage: detail.rollout.image, detail, events, names: new Map(), notes: [] }, 10);
      });
    });

  rollouts
    .command('watch')
    .description('live progress until the rollout ends; exits 0 when it completed, 4 when it paused, 5 when it failed, was cancelled or rolled back')
    .argument('<id>', 'rollout id (ro-…)')
    .option('--interval <seconds>', 'how often to read the rollout', seconds, 2)
    .option('--plain', 'plain lines even on a terminal')
    .action(async (id: string, options: { interval: number; plain?: boolean }, command: Command) => {
      const s = session(io, command);
      let detail: RolloutDetail;
      if (s.json) {
        detail = await watchQuietly(s.api, id, options.interval * 1000, io.signal);
        s.show(detail, () => []);
      } else {
        detail = await watchRollout(s.api, id, io.stdout, { intervalMs: options.interval * 1000, plain: options.plain === true, ...(io.signal ? { signal: io.signal } : {}) });
      }
      const code = watchExitCode(detail.rollout.status);
      if (code !== exitCodes.ok) throw new RolloutNotCompleted(detail.rollout.status, code);
    });

  rollouts
    .command('start')
    .description('start a manual rollout, now or at a later time')
    .argument('<id>', 'rollout id')
    .option('--at <time>', 'when to start: an ISO 8601 time with its offset (2026-12-24T02:00:00+01:00)')
    .action(async (id: string, options: { at?: string }, command: Command) => {
      const s = session(io, command);
      const body = await s.api.call<{ rollout: RolloutView; message?: string }>('POST', `/api/v1/rollouts/${segment(id)}/start`, {
        expect: [200, 202],
        body: options.at ? { start_at: options.at } : {},
      });
      s.show(body, () => [body.message ?? `rollout ${body.rollout.id} started (${body.rollout.status})`]);
    });

  for (const [name, description] of [
    ['approve', 'approve the stage the rollout waits for (its start, or going on after a batch)'],
    ['reject', 'reject it: the rollout is cancelled'],
  ] as const) {
    rollouts
      .command(name)
      .description(description)
      .argument('<id>', 'rollout id')
      .option('--comment <text>', 'what you have to say, for the event log')
      .action(async (id: string, options: { comment?: string }, command: Command) => {
        const s = session(io, command);
        const body = await s.api.call<{ rollout: RolloutView }>('POST', `/api/v1/rollouts/${segment(id)}/${name}`, { body: options.comment ? { comment: options.comment } : {} });
        s.show(body, () => [`rollout ${body.rollout.id} is ${label(body.rollout.status)}${body.rollout.status_reason ? `: ${body.rollout.status_reason}` : ''}`]);
      });
  }

  rollouts
    .command('promote')
    .description('fast-forward: the remaining batches start now, past batch delays and maintenance windows')
    .argument('<id>', 'rollout id')
    .requiredOption('--reason <text>', 'why, for the event log')
    .option('--full', 'skip the health checks too')
    .action(async (id: string, options: { reason: string; full?: boolean }, command: Command) => {
      const s = session(io, command);
      const body = await s.api.call<{ rollout: RolloutView }>('POST', `/api/v1/rollouts/${segment(id)}/promote`, { body: { reason: options.reason, full: options.full === true } });
      const left = body.rollout.batches.filter((b) => b.status === 'pending' || b.status === 'in_progress').reduce((n, b) => n + b.size, 0);
      s.show(body, () => [`rollout ${body.rollout.id} promoted${options.full ? ' (no health checks)' : ''}: ${left} devices in the remaining batch start now`]);
    });

  for (const [name, description] of [
    ['pause', 'stop scheduling devices'],
    ['resume', 'carry on from where it paused'],
    ['cancel', 'stop; devices not yet updated keep their image'],
  ] as const) {
    const command = rollouts.command(name).description(description).argument('<id>', 'rollout id');
    if (name !== 'resume') command.option('--reason <text>', 'why, for the event log');
    command.action(async (id: string, options: { reason?: string }, command: Command) => {
      const s = session(io, command);
      const body = await s.api.call<{ rollout: RolloutView }>('POST', `/api/v1/rollouts/${segment(id)}/${name}`, { body: options.reason ? { reason: options.reason } : {} });
      s.show(body, () => [`rollout ${body.rollout.id} is ${label(body.rollout.status)}`]);
    });
  }

  rollouts
    .command('rollback-all')
    .description('every device of the rollout back to its previous image (also after completion)')
    .argument('<id>', 'rollout id')
    .option('--reason <text>', 'why, for the event log')
    .action(async (id: string, options: { reason?: string }, command: Command) => {
      const s = session(io, command);
      const body = await s.api.call<{ rollout: RolloutView; devices_rolled_back: number; devices_failed: number; finishing_in_background: boolean }>(
        'POST',
        `/api/v1/rollouts/${segment(id)}/rollback-all`,
        { body: options.reason ? { reason: options.reason } : {} },
      );
      s.show(body, () => [
        `rollout ${body.rollout.id} ${label(body.rollout.status)}: ${body.devices_rolled_back} devices rolled back, ${body.devices_failed} failed` +
          (body.finishing_in_background ? '; the rest are being rolled back in the background' : ''),
      ]);
    });

  rollouts
    .command('rollback-device')
    .description('one device of the rollout back to its previous image')
    .argument('<id>', 'rollout id')
    .argument('<uuid>', 'device uuid')
    .option('--reason <text>', 'why, for the event log')
    .action(async (id: string, uuid: string, options: { reason?: string }, command: Command) => {
      const s = session(io, command);
      const body = await s.api.call<{ rollout_id: string; device_uuid: string; status: string }>('POST', `/api/v1/rollouts/${segment(id)}/devices/${segment(uuid)}/rollback`, {
        body: options.reason ? { reason: options.reason } : {},
      });
      s.show(body, () => [`device ${body.device_uuid} of rollout ${body.rollout_id} ${label(body.status)}`]);
    });

  return rollouts;
}

/** `watch --json`: no live view, just the rollout's last state once it has ended. */
function watchQuietly(api: AdminClient, id: string, intervalMs: number, signal: AbortSignal | undefined): Promise<RolloutDetail> {
  const nowhere = new Writable({ write: (_chunk, _encoding, done) => done() });
  return watchRollout(api, id, nowhere, { intervalMs, plain: true, ...(signal ? { signal } : {}) });
}
