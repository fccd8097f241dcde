/** `fleet registries …`: the registries that send pushes, each with its webhook URL and secret. */
import { Command, InvalidArgumentError } from 'commander';
import type { RegistryView } from '../../client/admin-client';
import { UsageError } from '../exit-codes';
import { readStdin } from '../input-file';
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
    ...(r.kind === 'docker-hub' || r.kind === 'quay'
      ? ([
          ['digest look-up', r.api_url ?? 'where the kind implies'],
          ['pull credentials', r.pull_credentials ? `${r.pull_credentials.username} (password kept in the secret store)` : 'none (anonymous)'],
        ] as [string, string][])
      : []),
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

interface LookupOptions {
  registryApi?: string;
  pullUsername?: string;
  pullPasswordStdin?: boolean;
}

/**
 * `api_url` and `pull_credentials` from the flags. The password only ever comes from standard
 * input (as `docker login --password-stdin` takes it), never from an argument a process list shows.
 */
async function lookupFields(options: LookupOptions, io: Io): Promise<Record<string, unknown>> {
  if ((options.pullUsername === undefined) !== (options.pullPasswordStdin !== true)) {
    throw new UsageError('--pull-username and --pull-password-stdin go together: the username as an argument, the password (or access token) on standard input');
  }
  let credentials: Record<string, string> | undefined;
  if (options.pullUsername !== undefined) {
    const password = (await (io.stdin ?? readStdin)()).replace(/\r?\n$/, '');
    if (password === '') throw new UsageError('--pull-password-stdin: standard input was empty; pipe the password in, e.g. printf %s "$TOKEN" | fleet …');
    credentials = { username: options.pullUsername, password };
  }
  return { ...(options.registryApi !== undefined ? { api_url: options.registryApi } : {}), ...(credentials ? { pull_credentials: credentials } : {}) };
}

function withLookupOptions(command: Command): Command {
  return command
    .option('--registry-api <url>', 'docker-hub and quay: the registry API digests are looked up at (default: Docker Hub, quay.io, or https://<host>)')
    .option('--pull-username <name>', 'docker-hub and quay: who the digest look-up signs in as, for private repositories')
    .option('--pull-password-stdin', 'read the pull password or access token from standard input');
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

  withLookupOptions(registries
    .command('create'))
    .description('configure a registry; prints its secret, which happens this once')
    .argument('<name>', 'lower-case letters, digits and dashes: the last part of its webhook URL')
    .requiredOption('--kind <kind>', 'what sends its pushes: docker-hub, distribution, ecr …')
    .option('--secret <secret>', 'a secret of your own (16 or more characters); default: a strong one is generated')
    .option('--host <host>', "the registry's host, for kinds whose payload names none (and an ECR account's <account>.dkr.ecr.<region>.amazonaws.com)")
    .option('--alias <from=to>', 'a host alias, e.g. localhost:5000=registry.lan:5000 (repeat for several)', alias)
    .option('--rate-limit <n>', 'deliveries accepted a minute (default 120)', wholeNumber)
    .action(async (name: string, options: { kind: string; secret?: string; host?: string; alias?: Record<string, string>; rateLimit?: number } & LookupOptions, command: Command) => {
      const s = session(io, command);
      const lookup = await lookupFields(options, io);
      const body = await s.api.call<{ registry: RegistryView; secret?: string }>('POST', '/api/v1/registries', {
        expect: 201,
        body: {
          name,
          kind: options.kind,
          ...(options.secret !== undefined ? { secret: options.secret } : {}),
          ...(options.host !== undefined ? { host: options.host } : {}),
          ...(options.alias !== undefined ? { host_aliases: options.alias } : {}),
          ...(options.rateLimit !== undefined ? { rate_limit_per_minute: options.rateLimit } : {}),
          ...lookup,
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

  withLookupOptions(
    registries
      .command('update')
      .description("change a registry's host, aliases, rate limit or digest look-up; what is not named stays")
      .argument('<name>', 'registry name')
      .option('--host <host>', "the registry's host")
      .option('--no-host', 'the registry names no host any more')
      .option('--alias <from=to>', 'replaces all host aliases (repeat for several)', alias)
      .option('--no-aliases', 'removes all host aliases')
      .option('--rate-limit <n>', 'deliveries accepted a minute', wholeNumber),
  )
    .option('--no-registry-api', 'look digests up where the kind implies')
    .option('--no-pull-credentials', 'remove the pull credentials: the look-up goes anonymous')
    .action(
      async (
        name: string,
        options: { host?: string | false; alias?: Record<string, string>; aliases?: boolean; rateLimit?: number; registryApi?: string | false; pullCredentials?: boolean } & Omit<LookupOptions, 'registryApi'>,
        command: Command,
      ) => {
        const s = session(io, command);
        const { registryApi, ...credentialFlags } = options;
        const lookup = await lookupFields({ ...credentialFlags, ...(typeof registryApi === 'string' ? { registryApi } : {}) }, io);
        const body = {
          ...(typeof options.host === 'string' ? { host: options.host } : options.host === false ? { host: null } : {}),
          ...(options.alias !== undefined ? { host_aliases: options.alias } : options.aliases === false ? { host_aliases: {} } : {}),
          ...(options.rateLimit !== undefined ? { rate_limit_per_minute: options.rateLimit } : {}),
          ...lookup,
          ...(registryApi === false ? { api_url: null } : {}),
          ...(options.pullCredentials === false ? { pull_credentials: null } : {}),
        };
        if (Object.keys(body).length === 0) throw new UsageError('nothing to change: name at least one of --host, --alias, --rate-limit, --registry-api, --pull-username …');
        const answer = await s.api.call<{ registry: RegistryView }>('PATCH', `/api/v1/registries/${segment(name)}`, { body });
        s.show(answer, () => [`updated registry ${answer.registry.name}`, ...fields(answer.registry)]);
      },
    );

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
