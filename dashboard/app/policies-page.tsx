/** Update policies: listed, created, edited and deleted. */
import { useState } from 'preact/hooks';
import type { Api } from './api';
import { CommandDialog, type CommandRequest } from './dialog';
import { PolicyForm, type Policy } from './policy-form';
import { useRefresh } from './use-refresh';

export function PoliciesPage(props: { api: Api; announce: (message: string) => void }) {
  const { api, announce } = props;
  const policies = useRefresh(() => api.get<{ policies: Policy[]; next_cursor: string | null }>('/api/v1/policies?limit=200'), 30_000, 'policies');
  const [editing, setEditing] = useState<Policy | 'new' | undefined>(undefined);
  const [command, setCommand] = useState<CommandRequest | undefined>(undefined);

  if (editing) {
    return (
      <PolicyForm
        api={api}
        {...(editing !== 'new' ? { policy: editing } : {})}
        onCancel={() => setEditing(undefined)}
        onSaved={(message) => {
          announce(message);
          setEditing(undefined);
          policies.reload();
        }}
      />
    );
  }

  const remove = (policy: Policy) =>
    setCommand({
      title: `Delete policy ${policy.name ?? policy.image_pattern}?`,
      explanation: 'Pushes matching it no longer roll out by it; running rollouts keep their settings. This cannot be undone.',
      confirmLabel: 'Delete policy',
      destructive: true,
      takesReason: false,
      run: async () => {
        await api.send('DELETE', `/api/v1/policies/${encodeURIComponent(policy.id)}`, undefined, 204);
        announce(`Policy ${policy.image_pattern} deleted`);
        policies.reload();
      },
    });

  return (
    <section aria-labelledby="policies-title">
      <div class="section-head">
        <h2 id="policies-title">Policies</h2>
        <button type="button" class="primary" onClick={() => setEditing('new')}>
          New policy
        </button>
      </div>
      {policies.error && <p class="error" role="alert">{policies.error}</p>}
      {!policies.data ? (
        <p class="hint">Loading…</p>
      ) : policies.data.policies.length === 0 ? (
        <p class="hint">No policy yet: pushes roll out nothing until one matches.</p>
      ) : (
        <div class="table-wrap card">
          <table class="stack">
            <caption class="visually-hidden">Update policies</caption>
            <thead>
              <tr>
                <th scope="col">Image pattern</th>
                <th scope="col">Strategy</th>
                <th scope="col">Batches</th>
                <th scope="col">Delay</th>
                <th scope="col">Max failures</th>
                <th scope="col">Priority</th>
                <th scope="col">
                  <span class="visually-hidden">Commands</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {policies.data.policies.map((policy) => (
                <tr key={policy.id}>
                  <th scope="row">
                    <code>{policy.image_pattern}</code>
                    {policy.name && <small class="uuid">{policy.name}</small>}
                    {!policy.enabled && <small class="badge">disabled</small>}
                    {policy.tag_policy !== 'glob' && <small class="badge">{policy.tag_policy === 'semver' ? `semver ${policy.semver_range}` : `${policy.tag_policy} updates`}{policy.include_prereleases ? ', prereleases' : ''}</small>}
                  </th>
                  <td data-label="Strategy">{policy.update_strategy}</td>
                  <td data-label="Batches">{policy.batch_percentages.join(' → ')}%</td>
                  <td data-label="Delay">{policy.batch_delay_minutes} min</td>
                  <td data-label="Max failures">{Math.round(policy.max_failure_rate * 100)}%</td>
                  <td data-label="Priority">{policy.priority}</td>
                  <td class="row-actions">
                    <button type="button" class="small" onClick={() => setEditing(policy)} aria-label={`Edit policy ${policy.image_pattern}`}>
                      Edit
                    </button>
                    <button type="button" class="small danger" onClick={() => remove(policy)} aria-label={`Delete policy ${policy.image_pattern}`}>
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {command && <CommandDialog request={command} onClose={() => setCommand(undefined)} />}
    </section>
  );
}
