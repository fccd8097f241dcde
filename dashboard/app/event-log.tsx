/** A rollout's events: the newest, as the rollout's detail carries them, and the whole log, page by page. */
import { useState } from 'preact/hooks';
import { eventOrder, type RolloutEventView } from '../../client/admin-client';
import { messageOf, type Api } from './api';

const describe = (event: RolloutEventView) => {
  const details = Object.entries(event.details)
    .filter(([, value]) => value !== null && typeof value !== 'object')
    .map(([name, value]) => `${name}: ${String(value)}`)
    .join(', ');
  return details;
};

function EventRows(props: { events: RolloutEventView[] }) {
  return (
    <ol class="events">
      {props.events.map((event) => (
        <li key={event.id}>
          <time dateTime={event.timestamp}>{new Date(event.timestamp).toLocaleTimeString()}</time> <strong>{event.type.replace(/^image\./, '').replaceAll('_', ' ')}</strong>
          {event.device_uuid && <code> {event.device_uuid}</code>} <span class="event-details">{describe(event)}</span>
        </li>
      ))}
    </ol>
  );
}

export function LatestEvents(props: { events: RolloutEventView[] }) {
  return (
    <section aria-labelledby="latest-title" class="card">
      <h2 id="latest-title">Latest events</h2>
      <EventRows events={[...props.events].sort(eventOrder).reverse()} />
    </section>
  );
}

export function EventLog(props: { api: Api; rolloutId: string }) {
  const [events, setEvents] = useState<RolloutEventView[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  async function more() {
    setBusy(true);
    try {
      const query = new URLSearchParams({ limit: '100', ...(cursor ? { cursor } : {}) });
      const page = await props.api.get<{ events: RolloutEventView[]; next_cursor: string | null }>(`/api/v1/rollouts/${encodeURIComponent(props.rolloutId)}/events?${query}`);
      setEvents([...events, ...page.events]);
      setCursor(page.next_cursor);
      setError(undefined);
    } catch (failure) {
      setError(messageOf(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="log-title" class="card">
      <h2 id="log-title">Event log</h2>
      {events.length > 0 && <EventRows events={events} />}
      {error && <p class="error">{error}</p>}
      {cursor !== null && (
        <button type="button" onClick={more} disabled={busy}>
          {cursor === undefined ? 'Read the event log (oldest first)' : 'Read the next 100 events'}
        </button>
      )}
      {cursor === null && <p class="hint">End of the log.</p>}
    </section>
  );
}
