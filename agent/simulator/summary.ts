/** The demo's closing summary: what it returns, and how it reads. */
import { deviceStatuses, type DeviceStatus, type RolloutDetail, type RolloutDeviceRow, type StatusCounts } from '../../client/admin-client';
import type { SimulatedDevice } from './fleet';
import { countsText, label, paint, percent, plural, seconds, statusTone, type Style } from '../../client/render';

export interface DemoDevice {
  name: string;
  uuid: string;
  ipAddress: string;
  /** The demo made its health endpoint fail on the new image. */
  unhealthyOnNewImage: boolean;
  batch: number | null;
  /** Its status in the rollout. */
  status: DeviceStatus;
  /** The image the simulated device runs at the end. */
  image: string;
}

export interface DemoSummary {
  rolloutId: string;
  status: string;
  statusReason: string | null;
  fromImage: string;
  toImage: string;
  totalDevices: number;
  batches: { number: number; size: number; status: string; counts: StatusCounts }[];
  counts: StatusCounts;
  failureRate: number;
  maxFailureRate: number;
  /** From the push's rollout being created to it completing or pausing. */
  rolloutSeconds: number;
  /** The whole demo, host start to summary. */
  demoSeconds: number;
  /** How many simulated devices run each image at the end. */
  images: Record<string, number>;
  devices: DemoDevice[];
}

/** The summary of an ended rollout, with what each simulated device runs now. */
export function summarise(input: {
  detail: RolloutDetail;
  rows: ReadonlyMap<string, RolloutDeviceRow>;
  devices: SimulatedDevice[];
  names: ReadonlyMap<string, string>;
  fromImage: string;
  startedAt: number;
}): DemoSummary {
  const { rollout, statistics } = input.detail;
  const devices: DemoDevice[] = input.devices.map((d) => ({
    name: input.names.get(d.uuid) ?? d.uuid,
    uuid: d.uuid,
    ipAddress: d.ipAddress,
    unhealthyOnNewImage: d.behaviour.unhealthyOnNewImage === true,
    batch: input.rows.get(d.uuid)?.batch ?? null,
    status: input.rows.get(d.uuid)?.status ?? 'pending',
    image: d.running[0]!.image,
  }));
  const images: Record<string, number> = {};
  for (const device of devices) images[device.image] = (images[device.image] ?? 0) + 1;
  return {
    rolloutId: rollout.id,
    status: rollout.status,
    statusReason: rollout.status_reason ?? null,
    fromImage: input.fromImage,
    toImage: rollout.image,
    totalDevices: rollout.total_devices,
    batches: rollout.batches.map(({ number, size, status, counts }) => ({ number, size, status, counts })),
    counts: Object.fromEntries(deviceStatuses.map((status) => [status, statistics[status]])) as StatusCounts,
    failureRate: statistics.failure_rate,
    maxFailureRate: rollout.policy.max_failure_rate,
    // A paused rollout's last write is its pause.
    rolloutSeconds: (Date.parse(rollout.completed_at ?? rollout.updated_at) - Date.parse(rollout.created_at)) / 1000,
    demoSeconds: (Date.now() - input.startedAt) / 1000,
    images,
    devices,
  };
}

/** Words into lines of at most `width` columns. */
function wrap(text: string, width = 96): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}

function names(devices: DemoDevice[], max = 6): string {
  const shown = devices.slice(0, max).map((d) => d.name);
  return devices.length > max ? `${shown.join(', ')} and ${devices.length - max} more` : shown.join(', ');
}

export function renderSummary(style: Style, summary: DemoSummary): string[] {
  const s = summary;
  const tone = statusTone[s.status] ?? 'red';
  const lines: string[] = ['', paint(style, 'dim', '─'.repeat(Math.min(style.width, 72)))];
  const last = s.batches.filter((b) => b.status === 'completed').at(-1)?.number ?? 0;
  const where = s.status === 'paused' ? ` after batch ${last} of ${s.batches.length}` : '';
  lines.push(`${paint(style, 'bold', 'Rollout')} ${paint(style, tone, paint(style, 'bold', label(s.status)))}${where} in ${seconds(s.rolloutSeconds)}`);
  if (s.statusReason) lines.push(`  ${paint(style, tone, s.statusReason)}`);
  lines.push(
    `  ${s.rolloutId}: ${s.fromImage} → ${s.toImage}, ${plural(s.totalDevices, 'device')} in ${plural(s.batches.length, 'batch')} (${s.batches.map((b) => b.size).join(', ')})`,
  );
  const order: DeviceStatus[] = ['healthy', 'updated', 'unhealthy', 'failed', 'rolled_back', 'scheduled', 'pending', 'skipped'];
  lines.push(`  ${countsText(style, s.counts, order)}`);
  // A pause for failures says the rate in its reason already.
  if (s.status !== 'paused') {
    const within = s.failureRate > s.maxFailureRate ? 'above' : 'within';
    lines.push(`  failure rate ${percent(s.failureRate)}, ${within} the policy's maximum of ${percent(s.maxFailureRate)}`);
  }

  lines.push('', paint(style, 'bold', 'Fleet at the end') + paint(style, 'dim', ' (what the simulated devices run)'));
  const images = Object.entries(s.images).sort(([a, m], [b, n]) => n - m || a.localeCompare(b));
  const width = String(s.devices.length).length;
  for (const [image, count] of images) {
    const on = s.devices.filter((d) => d.image === image);
    const rolledBack = on.filter((d) => d.status === 'rolled_back');
    const untouched = on.filter((d) => d.status === 'pending' || d.status === 'skipped').length;
    const why = [...(rolledBack.length ? [`rolled back: ${names(rolledBack)}`] : []), ...(untouched ? [`never updated: ${untouched}`] : [])];
    const shown = image === s.toImage ? paint(style, 'green', image) : image;
    lines.push(`  ${String(count).padStart(width)} ${count === 1 ? 'device ' : 'devices'}  ${shown}${why.length ? paint(style, 'dim', `  (${why.join('; ')})`) : ''}`);
  }
  const unhealthy = s.devices.filter((d) => d.unhealthyOnNewImage);
  if (unhealthy.length > 0) {
    lines.push(paint(style, 'dim', `  made unhealthy on ${s.toImage} by the demo: ${names(unhealthy, 8)}`));
  }

  if (s.status === 'paused') {
    const waiting = s.devices.filter((d) => d.status === 'pending').length;
    const untouched =
      waiting > 0
        ? `${plural(waiting, 'device')} in the batches after batch ${last} ${waiting === 1 ? 'was' : 'were'} never updated and keep ${s.fromImage}.`
        : 'It paused after its last batch, so every device was reached.';
    lines.push(
      '',
      ...wrap(
        `The rollout stopped itself: too many devices failed. ${untouched} On a host you keep running ` +
          '(npm start) an admin would now look at the failures, then resume the rollout or roll it back:',
      ),
      `  curl -X POST $API/rollouts/${s.rolloutId}/resume -H "Authorization: Bearer $ADMIN_KEY"`,
      `  curl -X POST $API/rollouts/${s.rolloutId}/rollback-all -H "Authorization: Bearer $ADMIN_KEY"`,
      ...wrap("This demo's host lives in memory and stops now; run it again with a lower --fail or a higher --max-failure-rate to watch a rollout complete."),
    );
  }
  // Printed once, so a long line may wrap: better than cutting a command short.
  return lines;
}
