/** `fleet admin-keys …`: named admin keys, one per person or tool. */
import { Command } from 'commander';
import type { AdminKeyView } from '../../client/admin-client';
import { segment, session, type Io } from '../session';
import { orDash, renderTable, shortTime, type Column } from '../table';
import { limitOption, printList } from './lists';

const columns: Column<AdminKeyView>[] = [
  { header: 'ID', value: (k) => k.id },
  { header: 'NAME', value: (k) => k.name },
  { header: 'STATE', value: (k) => (k.revoked_at ? 'revoked' : 'active') },
  { header: 'CREATED', value: (k) => shortTime(k.created_at) },
  { header: 'BY', value: (k) => k.created_by.name },
  { header: 'REVOKED', value: (k) => (k.revoked_at ? `${shortTime(k.revoked_at)} by ${orDash(k.revoked_by?.name)}` : '-') },
];

export function adminKeyCommands(io: Io): Command {
  const keys = new Command('admin-keys').description('named admin keys, one per person or tool, so that what an admin does says who did it');

  limitOption(keys.command('list').description("every named key, revoked ones too (the deployment's configured key is not listed)")).action(
    async (options: { limit?: number; cursor?: string }, command: Command) => {
      await printList<AdminKeyView>(session(io, command), '/api/v1/admin-keys', 'admin_keys', options, (rows) => renderTable(columns, rows));
    },
  );

  keys
    .command('create')
    .description('a new key; prints it, which happens this once')
    .argument('<name>', 'who or what holds it, e.g. alice@example.com or "ci deploy" (unique among unrevoked keys)')
    .action(async (name: string, _options: unknown, command: Command) => {
      const s = session(io, command);
      const body = await s.api.call<{ admin_key: AdminKeyView; key: string }>('POST', '/api/v1/admin-keys', { body: { name }, expect: 201 });
      s.show(body, () => [`created admin key ${body.admin_key.id} (${body.admin_key.name})`, `key (shown this once; its holder uses it as FLEET_ADMIN_KEY): ${body.key}`]);
    });

  keys
    .command('revoke')
    .description('revoke a key: the next request with it is refused (it stays listed)')
    .argument('<id>', 'key id (ak_…)')
    .action(async (id: string, _options: unknown, command: Command) => {
      const s = session(io, command);
      await s.api.call('DELETE', `/api/v1/admin-keys/${segment(id)}`, { expect: 204 });
      s.show(undefined, () => [`revoked admin key ${id}`]);
    });

  return keys;
}
