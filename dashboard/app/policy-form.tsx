/**
 * Creating or editing a policy. The form sends what was typed; a 400 from the API names each
 * field it refuses (`details.issues[].path`), and the message is shown at that field.
 */
import { useState } from 'preact/hooks';
import type { Api } from './api';
import { fieldIssues, messageOf } from './api';

export interface Policy {
  id: string;
  name: string | null;
  enabled: boolean;
  priority: number;
  image_pattern: string;
  update_strategy: string;
  batch_percentages: number[];
  batch_delay_minutes: number;
  update_timeout_minutes: number;
  health_check_enabled: boolean;
  health_check_config: Record<string, unknown> | null;
  auto_rollback_enabled: boolean;
  max_failure_rate: number;
  device_selector: Record<string, string>;
  batch_order: Record<string, string>[];
  max_devices_per_minute: number | null;
  max_unavailable: number | null;
  tag_policy: string;
  semver_range: string | null;
  include_prereleases: boolean;
}

type Draft = Record<
  'name' | 'image_pattern' | 'update_strategy' | 'batch_percentages' | 'batch_delay_minutes' | 'update_timeout_minutes' | 'max_failure_rate' | 'max_devices_per_minute' | 'max_unavailable' | 'priority' | 'health_check_config' | 'device_selector' | 'batch_order' | 'tag_policy' | 'semver_range',
  string
> &
  Record<'enabled' | 'health_check_enabled' | 'auto_rollback_enabled' | 'include_prereleases', boolean>;

const draftOf = (policy?: Policy): Draft => ({
  name: policy?.name ?? '',
  image_pattern: policy?.image_pattern ?? '',
  update_strategy: policy?.update_strategy ?? 'staged',
  batch_percentages: (policy?.batch_percentages ?? [10, 50, 100]).join(', '),
  batch_delay_minutes: String(policy?.batch_delay_minutes ?? 30),
  update_timeout_minutes: String(policy?.update_timeout_minutes ?? 30),
  max_failure_rate: String(policy?.max_failure_rate ?? 0.2),
  max_devices_per_minute: policy?.max_devices_per_minute == null ? '' : String(policy.max_devices_per_minute),
  max_unavailable: policy?.max_unavailable == null ? '' : String(policy.max_unavailable),
  priority: String(policy?.priority ?? 0),
  health_check_config: policy?.health_check_config ? JSON.stringify(policy.health_check_config) : '',
  device_selector: Object.keys(policy?.device_selector ?? {}).length > 0 ? JSON.stringify(policy!.device_selector) : '',
  batch_order: (policy?.batch_order ?? []).length > 0 ? JSON.stringify(policy!.batch_order) : '',
  tag_policy: policy?.tag_policy ?? 'glob',
  semver_range: policy?.semver_range ?? '',
  include_prereleases: policy?.include_prereleases ?? false,
  enabled: policy?.enabled ?? true,
  health_check_enabled: policy?.health_check_enabled ?? false,
  auto_rollback_enabled: policy?.auto_rollback_enabled ?? true,
});

/** A number where one was typed; otherwise the text itself, for the API to name as not a number. */
const numberOr = (text: string): number | string => (text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text);

/** JSON where JSON was typed, `empty` where nothing was; otherwise the text, for the API to name as the wrong type. */
function jsonOr(text: string, empty: unknown): unknown {
  if (text.trim() === '') return empty;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function bodyOf(draft: Draft): Record<string, unknown> {
  const healthCheck = jsonOr(draft.health_check_config, null);
  return {
    name: draft.name.trim() === '' ? null : draft.name.trim(),
    image_pattern: draft.image_pattern.trim(),
    update_strategy: draft.update_strategy,
    batch_percentages: draft.batch_percentages.split(',').map((part) => numberOr(part.trim())),
    batch_delay_minutes: numberOr(draft.batch_delay_minutes),
    update_timeout_minutes: numberOr(draft.update_timeout_minutes),
    max_failure_rate: numberOr(draft.max_failure_rate),
    // Empty: no limit.
    max_devices_per_minute: draft.max_devices_per_minute.trim() === '' ? null : numberOr(draft.max_devices_per_minute),
    max_unavailable: draft.max_unavailable.trim() === '' ? null : numberOr(draft.max_unavailable),
    priority: numberOr(draft.priority),
    enabled: draft.enabled,
    health_check_enabled: draft.health_check_enabled,
    health_check_config: healthCheck,
    auto_rollback_enabled: draft.auto_rollback_enabled,
    device_selector: jsonOr(draft.device_selector, {}),
    batch_order: jsonOr(draft.batch_order, []),
    tag_policy: draft.tag_policy,
    // Only the fields the chosen tag policy uses are shown, and only they are sent; an empty range
    // is sent as none, for the API to say that semver needs one.
    semver_range: draft.tag_policy === 'semver' && draft.semver_range.trim() !== '' ? draft.semver_range.trim() : null,
    include_prereleases: draft.tag_policy !== 'glob' && draft.include_prereleases,
  };
}

type TextField = Exclude<keyof Draft, 'enabled' | 'health_check_enabled' | 'auto_rollback_enabled' | 'include_prereleases'>;
type Toggle = Exclude<keyof Draft, TextField>;

export function PolicyForm(props: { api: Api; policy?: Policy; onSaved: (message: string) => void; onCancel: () => void }) {
  const [draft, setDraft] = useState<Draft>(() => draftOf(props.policy));
  const [issues, setIssues] = useState(new Map<string, string[]>());
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const editing = props.policy !== undefined;

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    try {
      const body = bodyOf(draft);
      if (props.policy) await props.api.send('PUT', `/api/v1/policies/${encodeURIComponent(props.policy.id)}`, body);
      else await props.api.send('POST', '/api/v1/policies', body, 201);
      props.onSaved(editing ? `Policy ${draft.image_pattern} saved` : `Policy ${draft.image_pattern} created`);
    } catch (failure) {
      const byField = fieldIssues(failure);
      setIssues(byField);
      setError(messageOf(failure));
      setBusy(false);
      // The first field the API refused gets the focus, so its message is read out with it.
      const first = [...byField.keys()][0];
      if (first) document.getElementById(`policy-${first}`)?.focus();
    }
  }

  const text = (field: TextField, title: string, hint?: string) => {
    const problems = issues.get(field);
    return (
      <label class="field">
        <span>{title}</span>
        <input
          id={`policy-${field}`}
          type="text"
          value={draft[field]}
          onInput={(e) => setDraft({ ...draft, [field]: e.currentTarget.value })}
          aria-invalid={problems ? 'true' : undefined}
          aria-describedby={problems ? `policy-${field}-error` : hint ? `policy-${field}-hint` : undefined}
        />
        {hint && !problems && <small id={`policy-${field}-hint`} class="hint">{hint}</small>}
        {problems && <small id={`policy-${field}-error`} class="field-error">{problems.join('; ')}</small>}
      </label>
    );
  };
  const toggle = (field: Toggle, title: string) => (
    <label class="check">
      <input id={`policy-${field}`} type="checkbox" checked={draft[field]} onChange={(e) => setDraft({ ...draft, [field]: e.currentTarget.checked })} />
      <span>{title}</span>
    </label>
  );
  const strategyProblems = issues.get('update_strategy');
  const tagPolicyProblems = issues.get('tag_policy');

  return (
    <form class="card policy-form" onSubmit={submit} aria-labelledby="policy-form-title" noValidate>
      <h2 id="policy-form-title">{editing ? `Edit policy ${props.policy?.name ?? props.policy?.image_pattern}` : 'New policy'}</h2>
      <div class="grid">
        {text('image_pattern', 'Image pattern', 'repository:tag glob, e.g. acme/web:v*')}
        {text('name', 'Name (optional)')}
        <label class="field">
          <span>Update strategy</span>
          <select id="policy-update_strategy" value={draft.update_strategy} onChange={(e) => setDraft({ ...draft, update_strategy: e.currentTarget.value })} aria-invalid={strategyProblems ? 'true' : undefined}>
            <option value="staged">staged</option>
            <option value="auto">auto (one batch)</option>
            <option value="manual">manual (waits for start)</option>
          </select>
          {strategyProblems && <small class="field-error">{strategyProblems.join('; ')}</small>}
        </label>
        <label class="field">
          <span>Tag policy</span>
          <select id="policy-tag_policy" value={draft.tag_policy} onChange={(e) => setDraft({ ...draft, tag_policy: e.currentTarget.value })} aria-invalid={tagPolicyProblems ? 'true' : undefined}>
            <option value="glob">glob (every tag the pattern matches)</option>
            <option value="semver">semver (versions within a range)</option>
            <option value="major">major (any newer version)</option>
            <option value="minor">minor (newer, same major)</option>
            <option value="patch">patch (newer, same major.minor)</option>
          </select>
          {tagPolicyProblems && <small class="field-error">{tagPolicyProblems.join('; ')}</small>}
        </label>
        {draft.tag_policy === 'semver' && text('semver_range', 'Semver range', 'e.g. ^1.2, ~1.4.0 or >=2 <3')}
        {text('batch_percentages', 'Batch percentages', 'cumulative, ending at 100: 10, 50, 100')}
        {text('batch_delay_minutes', 'Batch delay (minutes)')}
        {text('update_timeout_minutes', 'Update timeout (minutes)')}
        {text('max_failure_rate', 'Maximum failure rate (0–1)')}
        {text('max_devices_per_minute', 'Devices per minute at most', 'empty: no limit')}
        {text('max_unavailable', 'Devices unavailable at once at most', 'empty: no limit')}
        {text('priority', 'Priority (-1000–1000)')}
      </div>
      <div class="toggles">
        {toggle('enabled', 'Enabled')}
        {toggle('auto_rollback_enabled', 'Roll failed and unhealthy devices back')}
        {toggle('health_check_enabled', 'Health checks after update')}
        {draft.tag_policy !== 'glob' && toggle('include_prereleases', 'Roll out prereleases (1.3.0-rc.1)')}
      </div>

      {text('health_check_config', 'Health check (JSON)', '{"type":"http","endpoint":"http://{device_ip}:80/health","expectedStatusCode":200}')}
      {text('device_selector', 'Devices (label selector, JSON; empty: every device)', '{"site":"berlin"}')}
      {text('batch_order', 'Batch order (JSON; empty: none)', 'these first, in order: [{"ring":"canary"},{"ring":"beta"}]')}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="actions">
        <button type="button" onClick={props.onCancel}>
          Back to policies
        </button>
        <button type="submit" class="primary" disabled={busy}>
          {editing ? 'Save policy' : 'Create policy'}
        </button>
      </div>
    </form>
  );
}
