/** `fleet devices …`: the fleet, registering a device by hand, and its labels. */
import { Command, InvalidArgumentError } from 'commander';
import type { DeviceApp, DeviceView } from '../../client/admin-client';
import { UsageError } from '../exit-codes';
import { readBody } from '../input-file';
import { segment, session, type Io } from '../session';
import { orDash, renderFields, renderTable, shortTime, type Column } from '../table';
import { limitOption, printList } from './lists';

const apps = (list: DeviceApp[]) => list.map((a) => `${a.name}=${a.image}`).join(', ');
const labelList = (labels: Record<string, string> | undefined) => orDash(Object.entries(labels ?? {}).map(([key, value]) => `${key}=${value}`).join(','));

const columns: Column<DeviceView>[] = [
  { header: 'UUID', value: (d) => d.uuid },
  { header: 'NAME', value: (d) => d.name },
  { header: 'STATUS', value: (d) => d.status },
  { header: 'IP', value: (d) => orDash(d.ip_address) },
  { header: 'TARGET', value: (d) => apps(d.target_apps) },
  { header: 'IN SYNC', value: (d) => (inSync(d) ? 'yes' : 'no') },
  { header: 'REPORTED', value: (d) => (d.reported_at ? shortTime(d.reported_at) : 'never') },
  { header: 'LABELS', value: (d) => labelList(d.labels) },
];

/** Every target app runs, on its target image. */
function inSync(device: DeviceView): boolean {
  return device.target_apps.every((target) => device.current_apps.some((app) => app.name === target.name && app.image === target.image && app.status === 'running'));
}

function deviceLines(device: DeviceView): string[] {
  const rows = device.target_apps.map((target) => ({ target, current: device.current_apps.find((a) => a.name === target.name) }));
  return [
    ...renderFields([
      ['uuid', device.uuid],
      ['name', device.name],
      ['ip address', orDash(device.ip_address)],
      ['labels', labelList(device.labels)],
      ['target version', String(device.target_version)],
      ['reported', device.reported_at ? shortTime(device.reported_at) : 'never'],
      ...(device.current_error ? [['error', device.current_error] as const] : []),
      ['provisioned by', orDash(device.provisioned_by)],
      ['active rollouts', orDash(Object.keys(device.active_rollouts ?? {}).join(', '))],
      ['registered', shortTime(device.created_at)],
    ]),
    '',
    ...renderTable(
      [
        { header: 'APP', value: (r: (typeof rows)[number]) => r.target.name },
        { header: 'TARGET', value: (r) => r.target.image },
        { header: 'RUNNING', value: (r) => orDash(r.current?.image) },
        { header: 'STATUS', value: (r) => orDash(r.current?.status) },
      ],
      rows,
    ),
  ];
}

/** `--app web=registry.lan/acme/web:1.0`: the app's name, then its image. */
export function parseApp(value: string, previous: { name: string; image: string }[] = []): { name: string; image: string }[] {
  const at = value.indexOf('=');
  if (at <= 0 || at === value.length - 1) throw new InvalidArgumentError(`"${value}" is not name=image, e.g. main=acme/app:1.0`);
  return [...previous, { name: value.slice(0, at), image: value.slice(at + 1) }];
}

/** `--label ring:canary`, the list filter: repeatable, each `key:value`. */
export function parseLabelFilter(value: string, previous: string[] = []): string[] {
  if (!/^[^:]+:/.test(value)) throw new InvalidArgumentError(`"${value}" is not key:value, e.g. ring:canary`);
  return [...previous, value];
}

/**
 * The labels of `fleet devices label <uuid> ring=canary site-`: `key=value` sets a label, `key-`
 * removes it (kubectl's way), as the merge patch the API takes.
 */
export function labelPatch(args: string[]): Record<string, string | null> {
  if (args.length === 0) throw new UsageError('give at least one key=value (set a label) or key- (remove it)');
  const patch: Record<string, string | null> = {};
  for (const arg of args) {
    const at = arg.indexOf('=');
    let key: string;
    let value: string | null;
    if (at > 0) [key, value] = [arg.slice(0, at), arg.slice(at + 1)];
    else if (at < 0 && arg.length > 1 && arg.endsWith('-')) [key, value] = [arg.slice(0, -1), null];
    else throw new UsageError(`"${arg}" is neither key=value nor key-`);
    if (Object.hasOwn(patch, key)) throw new UsageError(`${key} is given twice`);
    // Defined, not assigned: a key such as __proto__ stays a key, for the API to refuse by name.
    Object.defineProperty(patch, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return patch;
}

interface RegisterOptions {
  name?: string;
  app?: { name: string; image: string }[];
  uuid?: string;
  ip?: string;
  file?: string;
}

/** The registration body: from `--file`, or from the flags; never a mix, so nothing is silently dropped. */
export async function registrationBody(options: RegisterOptions, stdin?: () => Promise<string>): Promise<Record<string, unknown>> {
  const flags = (['name', 'app', 'uuid', 'ip'] as const).filter((flag) => options[flag] !== undefined);
  if (options.file) {
    if (flags.length > 0) throw new UsageError(`--file holds the whole device; leave out --${flags.join(', --')}`);
    return readBody(options.file, stdin);
  }
  if (!options.name) throw new UsageError('--name is required (or --file with the device)');
  if (!options.app?.length) throw new UsageError('at least one --app name=image is required (or --file with the device)');
  return { name: options.name, apps: options.app, ...(options.uuid ? { uuid: options.uuid } : {}), ...(options.ip ? { ip_address: options.ip } : {}) };
}

export function deviceCommands(io: Io): Command {
  const devices = new Command('devices').description("the fleet: list, read, register, label, delete, rotate a device's token");

  limitOption(
    devices
      .command('list')
      .description('every device, or those with every --label given, or in one --status')
      .option('--label <key:value>', 'only devices with this label (repeat: all must match)', parseLabelFilter)
      .option('--status <status>', 'only devices in this status: online, offline, updating or error'),
  ).action(async (options: { limit?: number; cursor?: string; label?: string[]; status?: string }, command: Command) => {
    const query = [...(options.label ?? []).map((label) => `label=${encodeURIComponent(label)}`), ...(options.status ? [`status=${encodeURIComponent(options.status)}`] : [])].join('&');
    await printList<DeviceView>(session(io, command), `/api/v1/devices${query ? `?${query}` : ''}`, 'devices', options, (rows) => renderTable(columns, rows));
  });

  devices
    .command('get')
    .description('one device: its target and current state')
    .argument('<uuid>', 'device uuid')
    .action(async (uuid: string, _options: unknown, command: Command) => {
      const s = session(io, command);
      const body = await s.api.call<{ device: DeviceView }>('GET', `/api/v1/devices/${segment(uuid)}`);
      s.show(body, () => deviceLines(body.device));
    });

  devices
    .command('register')
    .description('register a device; prints its token, which is shown this once')
    .option('--name <name>', "the device's name")
    .option('--app <name=image>', 'an app and the image it runs (repeat for more apps)', parseApp)
    .option('--uuid <uuid>', 'its uuid (default: one is generated)')
    .option('--ip <address>', 'its IP address, for health checks')
    .option('--file <path>', 'or: the whole registration, JSON or YAML (apps with container settings)')
    .action(async (options: RegisterOptions, command: Command) => {
      const s = session(io, command);
      const input = await registrationBody(options, io.stdin);
      const body = await s.api.call<{ device: DeviceView; device_token: string }>('POST', '/api/v1/devices', { body: input, expect: 201 });
      s.show(body, () => [
        `registered device ${body.device.uuid} (${body.device.name})`,
        `device token (shown this once; give it to the device as FLEET_DEVICE_TOKEN): ${body.device_token}`,
      ]);
    });

  devices
    .command('delete')
    .description('delete a device: its token stops working, and rollouts waiting on it skip it')
    .argument('<uuid>', 'device uuid')
    .action(async (uuid: string, _options: unknown, command: Command) => {
      const s = session(io, command);
      await s.api.call('DELETE', `/api/v1/devices/${segment(uuid)}`, { expect: 204 });
      s.show(undefined, () => [`deleted device ${uuid}`]);
    });

  devices
    .command('rotate-token')
    .description("give a device a new token; the old one is refused from now on; prints the new one, which is shown this once")
    .argument('<uuid>', 'device uuid')
    .action(async (uuid: string, _options: unknown, command: Command) => {
      const s = session(io, command);
      const body = await s.api.call<{ device_uuid: string; token: string }>('POST', `/api/v1/devices/${segment(uuid)}/token`, { expect: 200 });
      s.show(body, () => [
        `rotated the token of device ${body.device_uuid}; the old one no longer works`,
        `device token (shown this once; give it to the device as FLEET_DEVICE_TOKEN): ${body.token}`,
      ]);
    });

  devices
    .command('label')
    .description("set (key=value) or remove (key-) a device's labels; the others stay")
    .argument('<uuid>', 'device uuid')
    .argument('<labels...>', 'key=value to set a label, key- to remove one')
    .action(async (uuid: string, args: string[], _options: unknown, command: Command) => {
      const s = session(io, command);
      const body = await s.api.call<{ device: DeviceView }>('PATCH', `/api/v1/devices/${segment(uuid)}`, { body: { labels: labelPatch(args) } });
      s.show(body, () => [`device ${body.device.uuid} (${body.device.name}) labels: ${labelList(body.device.labels)}`]);
    });

  return devices;
}
