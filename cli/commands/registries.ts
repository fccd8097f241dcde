/** `fleet registries …`: the registries that send pushes, each with its webhook URL and secret. */
import { Command, InvalidArgumentError } from 'commander';
import type { RegistryView } from '../../client/admin-client';
import { segment, session, type Io, type Session } from '../session';
import { orDash, renderFields, renderTable, shortTime, type Column } from '../table';
import { limitOption, type ListOptions } from './lists';

const aliasesOf = (r: RegistryView) => Object.entries(r.host_aliases).map(([from, to]) => `${from}→${to}`).join(', ');

const columns: Column<RegistryView>[] = [
  { header: 'NAME', value: (r) => r.name },
  { header: 'KIND', value: (r) => r.kind },
  { header: 'SOURCE', value: (r) => r.source },
  { header: 'WEBHOOK URL', value: (r) => r.webhook_url ?? '(EventBridge)' },
  { header: 'LIMIT/MIN', value: (r) => String(r.rate_limit_per_minute), align: 'right' },
  { header: 'HOST ALIASES', value: (r) => orDash(aliasesOf(r)) },
];

function fields(r: RegistryView): string[] {
  return renderFields([
    ['name', r.name],
    ['kind', r.kind],
    ['source', r.source],
    ['webhook url', r.webhook_url ?? 'none: ECR pushes arrive through the EventBridge rule'],
    ['host', orDash(r.host)],
    ['host aliases', orDash(aliasesOf(r))],
    ['rate limit', `${r.rate_limit_per_minute} deliveries a minute`],
    ['secret', r.secret_kept_as === null ? 'none' : r.secret_kept_as === 'global' ? "the deployment's webhook secret" : `its own, kept as ${r.secret_kept_as === 'sha256' ? 'a SHA-256' : 'a Secrets Manager secret'}`],
    ['secret rotated', shortTime(r.secret_rotated_at)],
    ['created', r.created_at ? `${shortTime(r.created_at)} by ${orDash(r.created_by?.name)}` : '-'],
  ]);
}

/** Where the registry puts its secret, so the lines printed are what to configure in it. */
function setUp(r: RegistryView, secret: string): string[] {
  const lines = [`secret (shown this once; configure it in the registry): ${secret}`];
  if (!r.webhook_url) return lines;
  if (r.kind === 'docker-hub') lines.push(`Docker Hub webhook URL: ${r.webhook_url}?token=${encodeURIComponent(secret)}`);
  else if (r.kind === 'distribution') lines.push(`notification endpoint: ${r.webhook_url}, header Authorization: Bearer <the secret>`);
  else lines.push(`webhook URL: ${r.webhook_url}`);
  return lines;
}

/** `--alias from=to`, repeatable, into `host_aliases`. */
function alias(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const match = /^([^=\s]+)=([^=\s]+)$/.exec(value);
  if (!match) throw new InvalidArgumentError('must be <host as the registry reports it>=<host devices pull from>, e.g. localhost:5000=registry.lan:5000');
  return { ...previous, [match[1]!]: match[2]! };
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number from 1');
  return n;
}

async function printRegistries(s: Session, options: ListOptions): Promise<void> {
  const page = await s.api.list<RegistryView>('/api/v1/registries', 'registries', { ...(options.limit ? { max: options.limit } : {}), ...(options.cursor ? { cursor: options.cursor } : {}) });
  // The defaults come with the first page.
  const defaults = options.cursor ? [] : (await s.api.call<{ defaults: RegistryView[] }>('GET', '/api/v1/registries?limit=1')).defaults;
  s.show({ registries: page.items, defaults, next_cursor: page.next_cursor }, () => {
    const rows = [...page.items, ...defaults];
    const more = page.next_cursor ? [`(more: --cursor ${page.next_cursor})`] : [];
    return rows.length === 0 ? ['no registries'] : [...renderTable(columns, rows), ...more];
  });
}

export function registryCommands(io: Io): Command {
  const registries = new Command('registries').description('the registries that send pushes: webhook URLs, secrets, host aliases, rate limits');

  limitOption(registries.command('list').description('the configured registries, and the defaults none replaces')).action(async (options: ListOptions, command: Command) => {
    await printRegistries(session(io, command), options);
  });

  registries
    .command('create')
    .description('configure a registry; prints its secret, which happens this once')
    .argument('<name>', 'lower-case letters, digits and dashes: the last part of its webhook URL')
    .requiredOption('--kind <kind>', 'what sends its pushes: docker-hub, distribution, ecr …')
    .option('--secret <secret>', 'a secret of your own (16 or more characters); default: a strong one is generated')
    .option('--host <host>', "the registry's host, for kinds whose payload names none (and an ECR account's <account>.dkr.ecr.<region>.amazonaws.com)")
    .option('--alias <from=to>', 'a host alias, e.g. localhost:5000=registry.lan:5000 (repeat for several)', alias)
    .option('--rate-limit <n>', 'deliveries accepted a minute (default 120)', wholeNumber)
    .action(async (name: string, options: { kind: string; secret?: string; host?: string; alias?: Record<string, string>; rateLimit?: number }, command: Command) => {
      const s = session(io, command);
      const body = await s.api.call<{ registry: RegistryView; secret?: string }>('POST', '/api/v1/registries', {
        expect: 201,
        body: {
          name,
          kind: options.kind,
          ...(options.secret !== undefined ? { secret: options.secret } : {}),
          ...(options.host !== undefined ? { host: options.host } : {}),
          ...(options.alias !== undefined ? { host_aliases: options.alias } : {}),
          ...(options.rateLimit !== undefined ? { rate_limit_per_minute: options.rateLimit } : {}),
        },
      });
      s.show(body, () => [`created registry ${body.registry.name} (${body.registry.kind})`, ...fields(body.registry), ...(body.secret ? setUp(body.registry, body.secret) : [])]);
    });

  registries
    .command('show')
    .description('one registry (never its secret)')
    .argument('<name>', 'registry name')
    .action(async (name: string, _options: unknown, command: Command) => {
      const s = session(io, command);
      const body = await s.api.call<{ registry: RegistryView }>('GET', `/api/v1/registries/${segment(name)}`);
      s.show(body, () => fields(body.registry));
    });

  registries
    .command('rotate-secret')
    .description('give a registry a new secret; the old one is refused once this answers (other API instances: within 15 s)')
    .argument('<name>', 'registry name')
    .option('--secret <secret>', 'a secret of your own (16 or more characters); default: a strong one is generated')
    .action(async (name: string, options: { secret?: string }, command: Command) => {
      const s = session(io, command);
      const body = await s.api.call<{ registry: RegistryView; secret: string }>('PATCH', `/api/v1/registries/${segment(name)}`, {
        body: options.secret !== undefined ? { secret: options.secret } : { rotate_secret: true },
      });
      s.show(body, () => [`rotated the secret of registry ${body.registry.name}`, ...setUp(body.registry, body.secret)]);
    });

  registries
    .command('delete')
    .description('delete a registry and its secret: its webhook URL answers 404')
    .argument('<name>', 'registry name')
    .action(async (name: string, _options: unknown, command: Command) => {
      const s = session(io, command);
      await s.api.call('DELETE', `/api/v1/registries/${segment(name)}`, { expect: 204 });
      s.show(undefined, () => [`deleted registry ${name}`]);
    });

  return registries;
}
