/**
 * A rollout as it runs, as pure functions from data to lines of text: a header, a progress bar per
 * batch, device counts, the failure rate against the policy's threshold, the latest events. The
 * demo and `fleet rollouts watch` both show it. Colour is optional, so the same lines serve a
 * terminal, a pipe and a test.
 */

import { devicesOf, deviceStatuses, type BatchView, type DeviceStatus, type PolicyView, type RolloutDetail, type RolloutEventView, type RolloutView, type Statistics, type StatusCounts } from './admin-client';

export interface Style {
  color: boolean;
  /** Visible columns a line may take. */
  width: number;
}

// ---- text and colour ----------------------------------------------------------------------------

export type Tone = 'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan';
const sgr: Record<Tone, [number, number]> = { bold: [1, 22], dim: [2, 22], red: [31, 39], green: [32, 39], yellow: [33, 39], cyan: [36, 39] };
const escape = /\x1b\[[0-9;?]*[A-Za-z]/y;

export function paint(style: Style, tone: Tone | undefined, text: string): string {
  if (!style.color || !tone || text === '') return text;
  const [on, off] = sgr[tone];
  return `\x1b[${on}m${text}\x1b[${off}m`;
}

function visibleLength(text: string): number {
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').length;
}

/** Cuts a line to `width` visible columns, keeping its colour escapes whole. */
export function fit(text: string, width: number): string {
  if (visibleLength(text) <= width) return text;
  let out = '';
  let shown = 0;
  for (let i = 0; i < text.length; ) {
    escape.lastIndex = i;
    const match = escape.exec(text);
    if (match) {
      out += match[0];
      i += match[0].length;
      continue;
    }
    if (shown === width - 1) break;
    out += text[i++];
    shown++;
  }
  return `${out}…${text.includes('\x1b') ? '\x1b[0m' : ''}`;
}

export const percent = (share: number) => `${(share * 100).toFixed(1).replace(/\.0$/, '')}%`;
export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : /(s|sh|ch|x)$/.test(word) ? 'es' : 's'}`;
export const label = (status: string) => status.replaceAll('_', ' ');

export function seconds(value: number): string {
  if (value < 60) return `${Number(value.toFixed(1))} s`;
  return `${Number((value / 60).toFixed(1))} min`;
}

/** `+12.3s`, the time since the view started, padded so that columns line up. */
export function elapsed(ms: number): string {
  return `+${(Math.max(0, ms) / 1000).toFixed(1)}s`.padStart(7);
}

// ---- pieces of the live view --------------------------------------------------------------------

export const statusTone: Record<string, Tone> = { in_progress: 'cyan', completed: 'green', paused: 'yellow', pending: 'dim' };
const countTone: Partial<Record<DeviceStatus, Tone>> = {
  scheduled: 'yellow',
  updated: 'cyan',
  healthy: 'green',
  unhealthy: 'red',
  failed: 'red',
  rolled_back: 'red',
  pending: 'dim',
  skipped: 'dim',
};

function statusWord(style: Style, status: string): string {
  return paint(style, statusTone[status] ?? 'red', label(status).toUpperCase());
}

/** Devices the rollout has reached: all but the pending ones. */
export function reachedOf(counts: StatusCounts): number {
  return deviceStatuses.reduce((n, status) => n + (status === 'pending' ? 0 : counts[status]), 0);
}

/** Devices that got past `scheduled`: they ran (or failed to run) the new image. */
export function processedOf(counts: StatusCounts): number {
  return counts.updated + counts.healthy + counts.unhealthy + counts.failed + counts.rolled_back;
}

export function countsText(style: Style, counts: StatusCounts, order: readonly DeviceStatus[]): string {
  return order
    .filter((status) => counts[status] > 0)
    .map((status) => `${label(status)} ${paint(style, countTone[status], String(counts[status]))}`)
    .join('  ');
}

interface Segment {
  count: number;
  char: string;
  tone?: Tone;
}

/** A bar of `width` cells split in proportion to the segments; the rest is drawn as not started. */
function bar(style: Style, segments: Segment[], total: number, width: number): string {
  let out = '';
  let cumulative = 0;
  let drawn = 0;
  for (const segment of segments) {
    cumulative += segment.count;
    const upTo = total === 0 ? 0 : Math.min(width, Math.round((cumulative / total) * width));
    const cells = Math.max(0, upTo - drawn);
    drawn += cells;
    out += paint(style, segment.tone, segment.char.repeat(cells));
  }
  return out + paint(style, 'dim', '░'.repeat(width - drawn));
}

function batchState(batch: BatchView, rollout: RolloutView, now: number): { text: string; tone: Tone } {
  const c = batch.counts;
  if (batch.status === 'completed') return { text: 'done', tone: 'green' };
  if (batch.status === 'in_progress') {
    if (rollout.status !== 'in_progress') return { text: label(rollout.status), tone: 'yellow' };
    if (processedOf(c) + c.skipped < devicesOf(batch)) return { text: 'updating', tone: 'cyan' };
    if (c.updated > 0 && rollout.policy.health_check_enabled) return { text: 'health checks', tone: 'cyan' };
    if (c.unhealthy + c.failed > 0 && rollout.policy.auto_rollback_enabled) return { text: 'rolling back', tone: 'red' };
    return { text: 'finishing', tone: 'cyan' };
  }
  if (rollout.status !== 'in_progress') return { text: 'not started', tone: 'dim' };
  if (batch.number === rollout.current_batch + 1) {
    const due = rollout.next_batch_due_at ? Math.ceil((Date.parse(rollout.next_batch_due_at) - now) / 1000) : 0;
    return { text: due > 0 ? `starts in ${due} s` : 'starting', tone: 'dim' };
  }
  return { text: 'waiting', tone: 'dim' };
}

const barWidth = 20;

/** `batch 2  ████████░░░░  8/15  healthy 6  rolled back 2 · updating` */
export function batchLine(style: Style, batch: BatchView, rollout: RolloutView, now: number): string {
  const c = batch.counts;
  const digits = String(Math.max(...rollout.batches.map(devicesOf))).length;
  const numberWidth = String(rollout.batches.length).length;
  const bad = c.unhealthy + c.failed + c.rolled_back;
  const drawn = bar(
    style,
    [
      { count: c.healthy, char: '█', tone: 'green' },
      { count: c.updated, char: '█', tone: 'cyan' },
      { count: bad, char: style.color ? '█' : '▓', tone: 'red' },
      { count: c.scheduled, char: '▒', tone: 'yellow' },
    ],
    devicesOf(batch),
    barWidth,
  );
  const fraction = `${String(processedOf(c)).padStart(digits)}/${String(devicesOf(batch)).padEnd(digits)}`;
  const counts = countsText(style, c, ['healthy', 'updated', 'scheduled', 'unhealthy', 'failed', 'rolled_back', 'skipped']);
  const state = batchState(batch, rollout, now);
  return `batch ${String(batch.number).padStart(numberWidth)}  ${drawn}  ${fraction}  ${counts ? `${counts}  ` : ''}${paint(style, 'dim', '·')} ${paint(style, state.tone, state.text)}`;
}

export function devicesLine(style: Style, statistics: Statistics): string {
  const order: DeviceStatus[] = ['healthy', 'updated', 'scheduled', 'pending', 'unhealthy', 'failed', 'rolled_back', 'skipped'];
  return `devices       ${countsText(style, statistics, order)}  ${paint(style, 'dim', `(of ${statistics.total_devices})`)}`;
}

/** The failure rate on a gauge whose mark `│` is the policy's threshold. */
export function failureLine(style: Style, statistics: Statistics, maxRate: number): string {
  const rate = statistics.failure_rate;
  const scale = maxRate <= 0 ? 0.1 : Math.min(1, maxRate * 2);
  const mark = Math.min(barWidth, Math.round((maxRate / scale) * barWidth));
  const filled = Math.min(barWidth, Math.round((Math.min(rate, scale) / scale) * barWidth));
  const tone: Tone = rate > maxRate ? 'red' : rate > maxRate / 2 ? 'yellow' : 'green';
  const cells = Array.from({ length: barWidth }, (_, i) => (i < filled ? paint(style, tone, '█') : paint(style, 'dim', '░')));
  cells.splice(mark, 0, paint(style, 'bold', '│'));
  const failed = statistics.failed + statistics.rolled_back;
  return (
    `failure rate  ${cells.join('')}  ${paint(style, tone, percent(rate))}  ` +
    `${paint(style, 'dim', `${failed} of ${plural(processedOf(statistics), 'device')} failed · pauses above ${percent(maxRate)}`)}`
  );
}

export const noteworthy = (event: RolloutEventView) =>
  !['image.device_scheduled', 'image.device_updated', 'image.health_check_passed'].includes(event.type);

/**
 * One event in words; device uuids become the names the viewer knows them by. A completed batch
 * announces the next one only when one is due: after the last batch, or a pause, none is.
 */
export function describeEvent(event: RolloutEventView, names: ReadonlyMap<string, string>): { text: string; tone?: Tone } {
  const d = event.details;
  const device = (event.device_uuid && names.get(event.device_uuid)) ?? event.device_uuid ?? 'a device';
  const text = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));
  switch (event.type) {
    case 'image.webhook_received':
      return {
        text:
          `registry push received: ${text(d.repository)}:${text(d.tag)}` +
          (d.digest_source === 'resolved' ? ` (digest ${text(d.digest)} looked up)` : '') +
          (typeof d.digest_unresolved === 'string' ? ` (by tag: ${d.digest_unresolved})` : ''),
        ...(typeof d.digest_unresolved === 'string' ? { tone: 'yellow' as const } : {}),
      };
    case 'image.rollout_created':
      return { text: `rollout created for ${text(d.image)}` };
    case 'image.rollout_started': {
      const sizes = Array.isArray(d.batches) ? d.batches.map((b: { size?: number }) => b.size) : [];
      return { text: `rollout started: ${plural(Number(d.total_devices), 'device')} in ${plural(sizes.length, 'batch')} (${sizes.join(', ')})`, tone: 'cyan' };
    }
    case 'image.batch_started':
      return { text: `batch ${text(d.batch)} started with ${plural(Number(d.devices), 'device')}`, tone: 'cyan' };
    case 'image.batch_completed': {
      const due = typeof d.next_batch_due_at === 'string' ? (Date.parse(d.next_batch_due_at) - Date.parse(event.timestamp)) / 1000 : undefined;
      return { text: `batch ${text(d.batch)} completed${due !== undefined ? `; the next one starts in ${seconds(Math.max(0, due))}` : ''}`, tone: 'green' };
    }
    case 'image.batch_waiting':
      return { text: `batch ${text(d.batch)} waits for the maintenance window at ${text(d.next_window_at)}`, tone: 'yellow' };
    case 'image.rollout_start_scheduled':
      return { text: `rollout scheduled to start at ${text(d.start_at)}`, tone: 'cyan' };
    case 'image.rollout_approved':
      return { text: `approved by ${text(d.by)}${d.after_batch ? ` after batch ${text(d.after_batch)}` : ''} (${text(d.approvals)} of ${text(d.approvals_required)})`, tone: 'green' };
    case 'image.rollout_promoted':
      return { text: `rollout promoted${d.full ? ' (no health checks)' : ''}: ${text(d.reason)}`, tone: 'yellow' };
    case 'image.device_scheduled':
      return { text: `${device} told to run ${text(d.image)}` };
    case 'image.device_updated':
      return { text: `${device} runs ${text(d.image)}` };
    case 'image.health_check_passed':
      return { text: `${device} passed its health check`, tone: 'green' };
    case 'image.device_failed':
      return { text: `${device} failed: ${text(d.reason)}`, tone: 'red' };
    case 'image.device_retried':
      return { text: `${device} scheduled again (attempt ${text(d.attempt)} of ${text(d.attempts_allowed)}) after: ${text(d.reason)}`, tone: 'yellow' };
    case 'image.health_check_failed':
      return { text: `${device} failed its health check: ${text(d.reason)}`, tone: 'red' };
    case 'image.device_rolled_back':
      return { text: `${device} rolled back to ${text(d.to_image)}`, tone: 'yellow' };
    case 'image.device_skipped':
      return { text: `${device} skipped: ${text(d.reason)}`, tone: 'yellow' };
    case 'image.rollout_paused':
      return { text: `rollout paused: ${text(d.reason)}`, tone: 'yellow' };
    case 'image.rollout_resumed':
      return { text: 'rollout resumed', tone: 'cyan' };
    case 'image.rollout_completed':
      return { text: 'rollout completed', tone: 'green' };
    case 'image.rollout_cancelled':
    case 'image.rollout_rolled_back':
    case 'image.rollout_failed':
      return { text: `${label(event.type.slice('image.'.length))}: ${text(d.reason)}`, tone: 'red' };
    default:
      return { text: event.type };
  }
}

export function eventLine(style: Style, event: RolloutEventView, names: ReadonlyMap<string, string>, startedAt: number): string {
  const { text, tone } = describeEvent(event, names);
  return `${paint(style, 'dim', elapsed(Date.parse(event.timestamp) - startedAt))}  ${paint(style, tone, text)}`;
}

// ---- the live view ------------------------------------------------------------------------------

export interface LiveView {
  /** What is showing the rollout, e.g. `fleet-rollout demo`. */
  title: string;
  /** When the demo or the rollout started (ms since the epoch); times are shown relative to it. */
  startedAt: number;
  now: number;
  /** The image the fleet ran before, when the viewer knows it. */
  fromImage?: string;
  toImage: string;
  /** The policy in words, once created. */
  policy?: string;
  /** The simulated fleet in words, once registered. */
  fleet?: string;
  /** How to follow the rollout from elsewhere (the demo's dashboard and CLI command), once it exists. */
  watch?: string;
  /** What the demo is doing before there is a rollout to show. */
  phase?: string;
  detail?: RolloutDetail;
  /** Noteworthy events seen so far, oldest first. */
  events: RolloutEventView[];
  /** Device uuid → name; devices without one are shown by uuid. */
  names: ReadonlyMap<string, string>;
  /** Warnings worth a line, e.g. devices whose polls failed. */
  notes: string[];
}

export function titleLine(style: Style, view: Pick<LiveView, 'title' | 'fromImage' | 'toImage'>): string {
  return `${paint(style, 'bold', view.title)}  ${view.fromImage ? `${view.fromImage} → ` : ''}${paint(style, 'bold', view.toImage)}`;
}

/**
 * `label  text`, where the text is a list of parts joined by ` · `; parts that would pass the
 * width go on further lines, under the first.
 */
function labelled(style: Style, name: string, text: string): string[] {
  const indent = 10;
  const lines: string[] = [];
  let line = '';
  for (const part of text.split(' · ')) {
    if (line && indent + line.length + 3 + part.length > style.width) {
      lines.push(line);
      line = part;
    } else line = line ? `${line} · ${part}` : part;
  }
  lines.push(line);
  return lines.map((l, i) => (i === 0 ? `${paint(style, 'dim', name.padEnd(indent - 2))}  ${l}` : `${' '.repeat(indent)}${l}`));
}

export const fleetLines = (style: Style, fleet: string) => labelled(style, 'fleet', fleet);
export const policyLines = (style: Style, policy: string) => labelled(style, 'policy', policy);
export const watchLines = (style: Style, watch: string) => labelled(style, 'watch', watch);

export function headerLines(style: Style, view: Pick<LiveView, 'title' | 'fromImage' | 'toImage' | 'policy' | 'fleet' | 'watch'>): string[] {
  return [
    titleLine(style, view),
    ...(view.fleet ? fleetLines(style, view.fleet) : []),
    ...(view.policy ? policyLines(style, view.policy) : []),
    ...(view.watch ? watchLines(style, view.watch) : []),
  ];
}

export function rolloutLine(style: Style, detail: RolloutDetail): string {
  const { rollout, statistics } = detail;
  const where = rollout.batches.length > 0 && rollout.current_batch > 0 ? `batch ${rollout.current_batch} of ${rollout.batches.length}  ` : '';
  return `${paint(style, 'dim', 'rollout ')}  ${rollout.id}  ${statusWord(style, rollout.status)}  ${where}${paint(style, 'dim', `${statistics.progress_percent}% of devices processed`)}`;
}

/** The whole live view; `maxEvents` bounds the event list so the view fits the terminal. */
export function renderLive(style: Style, view: LiveView, maxEvents = 6): string[] {
  const lines = headerLines(style, view);
  lines[0] += `  ${paint(style, 'dim', seconds((view.now - view.startedAt) / 1000))}`;
  const detail = view.detail;
  if (!detail) return [...lines, '', `${view.phase ?? 'starting'}…`].map((line) => fit(line, style.width));
  const { rollout, statistics } = detail;
  lines.push(rolloutLine(style, detail));
  if (rollout.status_reason) lines.push(`          ${paint(style, rollout.status === 'paused' ? 'yellow' : 'red', rollout.status_reason)}`);
  lines.push('');
  if (!rollout.planned) lines.push('planning: finding the devices that run the image…');
  else {
    for (const batch of rollout.batches) lines.push(batchLine(style, batch, rollout, view.now));
    lines.push('', devicesLine(style, statistics), failureLine(style, statistics, rollout.policy.max_failure_rate));
  }
  for (const note of view.notes) lines.push(paint(style, 'yellow', note));
  if (maxEvents > 0 && view.events.length > 0) {
    lines.push('', paint(style, 'dim', 'latest events'));
    for (const event of view.events.slice(-maxEvents)) lines.push(eventLine(style, event, view.names, view.startedAt));
  }
  return lines.map((line) => fit(line, style.width));
}

/** `staged 10% → 50% → 100%, 3 s apart · HTTP health check · auto-rollback · pauses above 30% failed` */
export function describePolicy(policy: PolicyView): string {
  const check = policy.health_check_enabled && policy.health_check_config;
  return [
    `${policy.update_strategy} ${policy.batch_percentages.map((p) => `${p}%`).join(' → ')}, ${seconds(policy.batch_delay_minutes * 60)} apart`,
    check ? `${check.type.toUpperCase()} health check` : 'no health check',
    policy.auto_rollback_enabled ? 'auto-rollback' : 'no auto-rollback',
    `pauses above ${percent(policy.max_failure_rate)} failed`,
  ].join(' · ');
}
