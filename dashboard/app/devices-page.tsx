/**
 * The fleet: every device with its labels, target and current state, searched by name or uuid
 * over the pages read (the API has no search), and one device in full.
 */
import { useState } from 'preact/hooks';
import type { DeviceView } from '../../client/admin-client';
import type { Api } from './api';
import { useRefresh } from './use-refresh';

type Page = { devices: DeviceView[]; next_cursor: string | null };

const pageSize = 200;

export function DevicesPage(props: { api: Api }) {
  const { api } = props;
  const [pages, setPages] = useState(1);
  const [search, setSearch] = useState('');
  const [open, setOpen] = useState<string | undefined>(undefined);
  const list = useRefresh(async () => {
    const devices: DeviceView[] = [];
    let cursor: string | null = null;
    for (let read = 0; read < pages; read++) {
      const query = new URLSearchParams({ limit: String(pageSize), ...(cursor ? { cursor } : {}) });
      const page: Page = await api.get<Page>(`/api/v1/devices?${query}`);
      devices.push(...page.devices);
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    return { devices, next_cursor: cursor };
  }, 15_000, `devices#${pages}`);

  const needle = search.trim().toLowerCase();
  const shown = list.data?.devices.filter((d) => needle === '' || d.name.toLowerCase().includes(needle) || d.uuid.toLowerCase().includes(needle));
  return (
    <section aria-labelledby="devices-page-title">
      <h2 id="devices-page-title">Devices</h2>
      <label class="field inline">
        <span>Search by name or uuid</span>
        <input type="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
      </label>
      {list.error && <p class="error" role="alert">{list.error}</p>}
      {!shown ? (
        <p class="hint">Loading…</p>
      ) : (
        <>
          <p class="hint" aria-live="polite">
            {shown.length} of {list.data!.devices.length} devices read{list.data!.next_cursor ? ' (more on the server)' : ''}
          </p>
          <ul class="cards devices">
            {shown.map((device) => (
              <li key={device.uuid} class="card">
                <DeviceCard device={device} open={open === device.uuid} onToggle={() => setOpen(open === device.uuid ? undefined : device.uuid)} />
              </li>
            ))}
          </ul>
        </>
      )}
      {list.data?.next_cursor && (
        <button type="button" onClick={() => setPages(pages + 1)}>
          Read {pageSize} more devices
        </button>
      )}
    </section>
  );
}

function DeviceCard(props: { device: DeviceView; open: boolean; onToggle: () => void }) {
  const { device } = props;
  const panel = `device-${device.uuid}`;
  const current = new Map(device.current_apps.map((app) => [app.name, app]));
  const inSync = device.target_apps.every((app) => current.get(app.name)?.image === app.image);
  return (
    <article aria-label={`Device ${device.name}`}>
      <header class="card-head">
        <h3>{device.name}</h3>
        <span class={`badge device-${device.status}`} title="Derived from its last report: offline after 30 minutes without one">{device.status}</span>
        <span class={`badge ${inSync ? 'status-completed' : 'status-in_progress'}`}>{inSync ? 'on target' : 'not on target'}</span>
      </header>
      <p class="meta">
        <code>{device.uuid}</code> {device.ip_address && <>· {device.ip_address}</>} · {device.reported_at ? `reported ${new Date(device.reported_at).toLocaleString()}` : 'never reported'}
      </p>
      {Object.keys(device.labels ?? {}).length > 0 && (
        <ul class="labels" aria-label="Labels">
          {Object.entries(device.labels).map(([key, value]) => (
            <li key={key} class="badge">
              {key}={value}
            </li>
          ))}
        </ul>
      )}
      <button type="button" class="small" aria-expanded={props.open} aria-controls={panel} onClick={props.onToggle}>
        {props.open ? 'Hide state' : 'Show target and current state'}
      </button>
      {props.open && (
        <div id={panel} class="table-wrap">
          <table>
            <caption class="visually-hidden">Apps of {device.name}</caption>
            <thead>
              <tr>
                <th scope="col">App</th>
                <th scope="col">Target</th>
                <th scope="col">Current</th>
                <th scope="col">Rollout</th>
              </tr>
            </thead>
            <tbody>
              {device.target_apps.map((app) => (
                <tr key={app.name}>
                  <th scope="row">{app.name}</th>
                  <td>
                    <code>{app.image}</code>
                  </td>
                  <td>
                    <code>{current.get(app.name)?.image ?? '—'}</code> {current.get(app.name)?.status}
                  </td>
                  <td>
                    {device.active_rollouts[app.name] ? (
                      <a href={`#/rollouts/${encodeURIComponent(device.active_rollouts[app.name]!.rollout_id)}`}>batch {device.active_rollouts[app.name]!.batch ?? '–'}</a>
                    ) : (
                      '—'
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {device.current_error && <p class="error">Last error: {device.current_error}</p>}
        </div>
      )}
    </article>
  );
}
