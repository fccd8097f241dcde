/** A rollout's devices, page by page (`next_cursor`), filtered by status over the pages read. */
import { useState } from 'preact/hooks';
import type { DeviceStatus } from '../../client/admin-client';
import type { Api } from './api';
import { label, StatusBadge } from './progress';
import { useRefresh } from './use-refresh';

interface Row {
  device_uuid: string;
  device_name: string;
  app: string;
  status: DeviceStatus;
  batch: number;
  previous_image: string;
  new_image: string;
  error?: string;
}
type Page = { batches: { number: number; devices: Row[] }[]; next_cursor: string | null };

/** The statuses an admin may roll a device back from (lib/domain/rollout-control.ts `revertableByAdmin`). */
const revertable: readonly DeviceStatus[] = ['updated', 'healthy', 'unhealthy', 'failed'];
const pageSize = 50;

export function RolloutDevices(props: { api: Api; rolloutId: string; refreshMs: number; statuses: readonly DeviceStatus[]; onRollback: (uuid: string, name: string) => void }) {
  const { api, rolloutId } = props;
  const [pages, setPages] = useState(1);
  const [filter, setFilter] = useState<DeviceStatus | ''>('');
  const base = `/api/v1/rollouts/${encodeURIComponent(rolloutId)}/devices?limit=${pageSize}`;

  // The pages read so far, read again together, so that a refresh shows every row as it is now.
  const devices = useRefresh(async () => {
    const rows: Row[] = [];
    let cursor: string | null = null;
    for (let read = 0; read < pages; read++) {
      const page: Page = await api.get<Page>(cursor ? `${base}&cursor=${encodeURIComponent(cursor)}` : base);
      rows.push(...page.batches.flatMap((batch) => batch.devices.map((row) => ({ ...row, batch: batch.number }))));
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    return { rows, next_cursor: cursor };
  }, props.refreshMs, `${base}#${pages}`);

  const shown = devices.data?.rows.filter((row) => filter === '' || row.status === filter);
  return (
    <section aria-labelledby="devices-title" class="card">
      <h2 id="devices-title">Devices</h2>
      <label class="field inline">
        <span>Status</span>
        <select value={filter} onChange={(e) => setFilter(e.currentTarget.value as DeviceStatus | '')}>
          <option value="">any</option>
          {props.statuses.map((status) => (
            <option key={status} value={status}>
              {label(status)}
            </option>
          ))}
        </select>
      </label>
      {devices.error && <p class="error">{devices.error}</p>}
      {!shown ? (
        <p class="hint">Loading…</p>
      ) : (
        <div class="table-wrap">
          <table class="stack">
            <caption class="visually-hidden">Devices of the rollout{filter ? `, ${label(filter)} only` : ''}</caption>
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">Batch</th>
                <th scope="col">Status</th>
                <th scope="col">Image before</th>
                <th scope="col">
                  <span class="visually-hidden">Commands</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {shown.length === 0 && (
                <tr>
                  <td colSpan={5} class="hint">
                    No device {filter ? `is ${label(filter)}` : 'yet'}.
                  </td>
                </tr>
              )}
              {shown.map((row) => (
                <tr key={`${row.device_uuid}/${row.app}`}>
                  <th scope="row">
                    {row.device_name}
                    <small class="uuid">{row.device_uuid}</small>
                  </th>
                  <td data-label="Batch">{row.batch}</td>
                  <td data-label="Status">
                    <StatusBadge status={row.status} />
                    {row.error && <small class="uuid">{row.error}</small>}
                  </td>
                  <td data-label="Image before">
                    <code>{row.previous_image}</code>
                  </td>
                  <td>
                    {revertable.includes(row.status) && (
                      <button type="button" class="small" onClick={() => props.onRollback(row.device_uuid, row.device_name)} aria-label={`Roll back ${row.device_name}`}>
                        Roll back
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {devices.data?.next_cursor && (
        <button type="button" onClick={() => setPages(pages + 1)}>
          Show {pageSize} more devices
        </button>
      )}
    </section>
  );
}
