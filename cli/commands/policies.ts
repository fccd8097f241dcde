/** `fleet policies …`: update policies, created and replaced from a JSON or YAML file. */
import { Command } from 'commander';
import type { PolicyView } from '../../client/admin-client';
import { describePolicy } from '../../client/render';
import { readBody } from '../input-file';
import { segment, session, type Io } from '../session';
import { orDash, renderFields, renderTable, shortTime, type Column } from '../table';
import { limitOption, printList } from './lists';

interface Policy extends PolicyView {
  id: string;
  name: string | null;
  enabled: boolean;
  priority: number;
  image_pattern: string;
  update_timeout_minutes: number;
  tag_policy: string;
  semver_range: string | null;
  include_prereleases: boolean;
  created_at: string;
  updated_at: string;
}

/** Which tags roll out: `any tag`, `semver ^1.2`, `minor, with prereleases`. */
export function describeTagPolicy(policy: Pick<Policy, 'tag_policy' | 'semver_range' | 'include_prereleases'>): string {
  if (policy.tag_policy === 'glob') return 'any tag';
  const rule = policy.tag_policy === 'semver' ? `semver ${policy.semver_range}` : policy.tag_policy;
  return `${rule}${policy.include_prereleases ? ', with prereleases' : ''}`;
}

const columns: Column<Policy>[] = [
  { header: 'ID', value: (p) => p.id },
  { header: 'NAME', value: (p) => orDash(p.name) },
  { header: 'PATTERN', value: (p) => p.image_pattern },
  { header: 'TAGS', value: describeTagPolicy },
  { header: 'STRATEGY', value: (p) => p.update_strategy },
  { header: 'BATCHES', value: (p) => p.batch_percentages.map((n) => `${n}%`).join(' ') },
  { header: 'ENABLED', value: (p) => (p.enabled ? 'yes' : 'no') },
  { header: 'PRIORITY', value: (p) => String(p.priority), align: 'right' },
];

function policyLines(policy: Policy): string[] {
  return renderFields([
    ['id', policy.id],
    ['name', orDash(policy.name)],
    ['pattern', policy.image_pattern],
    ['tags', describeTagPolicy(policy)],
    ['enabled', policy.enabled ? 'yes' : 'no'],
    ['priority', String(policy.priority)],
    ['rollout', describePolicy(policy)],
    ['update timeout', `${policy.update_timeout_minutes} min`],
    ['health check', policy.health_check_config ? JSON.stringify(policy.health_check_config) : '-'],
    ['created', shortTime(policy.created_at)],
    ['updated', shortTime(policy.updated_at)],
  ]);
}

export function policyCommands(io: Io): Command {
  const policies = new Command('policies').description('update policies: which pushes roll out, and how');

  limitOption(policies.command('list').description('every policy')).action(async (options: { limit?: number; cursor?: string }, command: Command) => {
    await printList<Policy>(session(io, command), '/api/v1/policies', 'policies', options, (rows) => renderTable(columns, rows));
  });

  policies
    .command('get')
    .description('one policy')
    .argument('<id>', 'policy id (pol_…)')
    .action(async (id: string, _options: unknown, command: Command) => {
      const s = session(io, command);
      const body = await s.api.call<{ policy: Policy }>('GET', `/api/v1/policies/${segment(id)}`);
      s.show(body, () => policyLines(body.policy));
    });

  policies
    .command('create')
    .description('a policy from a file (JSON or YAML; the API\'s policy fields, e.g. image_pattern, staged_batches, tag_policy)')
    .requiredOption('--file <path>', 'the policy, JSON or YAML; - reads standard input')
    .action(async (options: { file: string }, command: Command) => {
      const s = session(io, command);
      const input = await readBody(options.file, io.stdin);
      const body = await s.api.call<{ policy: Policy }>('POST', '/api/v1/policies', { body: input, expect: 201 });
      s.show(body, () => [`created policy ${body.policy.id}`, ...policyLines(body.policy)]);
    });

  policies
    .command('update')
    .description('replace a policy with the one in a file')
    .argument('<id>', 'policy id')
    .requiredOption('--file <path>', 'the policy, JSON or YAML; - reads standard input')
    .action(async (id: string, options: { file: string }, command: Command) => {
      const s = session(io, command);
      const input = await readBody(options.file, io.stdin);
      const body = await s.api.call<{ policy: Policy }>('PUT', `/api/v1/policies/${segment(id)}`, { body: input });
      s.show(body, () => [`updated policy ${body.policy.id}`, ...policyLines(body.policy)]);
    });

  policies
    .command('delete')
    .description('delete a policy (running rollouts keep the settings they started with)')
    .argument('<id>', 'policy id')
    .action(async (id: string, _options: unknown, command: Command) => {
      const s = session(io, command);
      await s.api.call('DELETE', `/api/v1/policies/${segment(id)}`, { expect: 204 });
      s.show(undefined, () => [`deleted policy ${id}`]);
    });

  return policies;
}
