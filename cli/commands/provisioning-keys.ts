/** `fleet provisioning-keys …`: keys with which devices register themselves. */
import { Command, InvalidArgumentError } from 'commander';
import { segment, session, type Io } from '../session';
import { orDash, renderTable, shortTime, type Column } from '../table';
import { limitOption, printList } from './lists';

interface ProvisioningKey {
  id: string;
  name: string | null;
  expires_at: string | null;
  max_uses: number | null;
  uses: number;
  created_at: string;
  revoked_at: string | null;
}

/** Whether the key still lets a device in, and if not, why. */
export function keyState(key: ProvisioningKey, now: number): string {
  if (key.revoked_at) return 'revoked';
  if (key.expires_at && Date.parse(key.expires_at) <= now) return 'expired';
  if (key.max_uses !== null && key.uses >= key.max_uses) return 'used up';
  return 'active';
}

function columns(now: number): Column<ProvisioningKey>[] {
  return [
    { header: 'ID', value: (k) => k.id },
    { header: 'NAME', value: (k) => orDash(k.name) },
    { header: 'STATE', value: (k) => keyState(k, now) },
    { header: 'USES', value: (k) => `${k.uses}/${k.max_uses ?? 'any'}`, align: 'right' },
    { header: 'EXPIRES', value: (k) => (k.expires_at ? shortTime(k.expires_at) : 'never') },
    { header: 'CREATED', value: (k) => shortTime(k.created_at) },
  ];
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number from 1');
  return n;
}

export function provisioningKeyCommands(io: Io): Command {
  const keys = new Command('provisioning-keys').description('keys with which devices register themselves');

  limitOption(keys.command('list').description('every key, revoked ones too')).action(async (options: { limit?: number; cursor?: string }, command: Command) => {
    await printList<ProvisioningKey>(session(io, command), '/api/v1/provisioning-keys', 'provisioning_keys', options, (rows) => renderTable(columns(Date.now()), rows));
  });

  keys
    .command('create')
    .description('a new key; prints it, which happens this once')
    .option('--name <name>', 'what the key is for')
    .option('--expires-at <time>', 'ISO time after which it lets no device in, e.g. 2027-01-31T00:00:00Z')
    .option('--max-uses <n>', 'how many devices it may register', wholeNumber)
    .action(async (options: { name?: string; expiresAt?: string; maxUses?: number }, command: Command) => {
      const s = session(io, command);
      const body = await s.api.call<{ provisioning_key: ProvisioningKey; key: string }>('POST', '/api/v1/provisioning-keys', {
        expect: 201,
        body: {
          ...(options.name !== undefined ? { name: options.name } : {}),
          ...(options.expiresAt !== undefined ? { expires_at: options.expiresAt } : {}),
          ...(options.maxUses !== undefined ? { max_uses: options.maxUses } : {}),
        },
      });
      s.show(body, () => [
        `created provisioning key ${body.provisioning_key.id}`,
        `key (shown this once; give it to devices as FLEET_PROVISIONING_KEY): ${body.key}`,
      ]);
    });

  keys
    .command('revoke')
    .description('revoke a key: it lets no more devices in (it stays listed)')
    .argument('<id>', 'key id (pvk_…)')
    .action(async (id: string, _options: unknown, command: Command) => {
      const s = session(io, command);
      await s.api.call('DELETE', `/api/v1/provisioning-keys/${segment(id)}`, { expect: 204 });
      s.show(undefined, () => [`revoked provisioning key ${id}`]);
    });

  return keys;
}
