/** Asks for the admin key and tries it on the API; a refused key shows the API's answer. */
import { useState } from 'preact/hooks';
import { dashboardApi, messageOf } from './api';

export function Login(props: { onLogin: (key: string) => void; notice?: string | undefined }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | undefined>(props.notice);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await dashboardApi(key.trim()).get('/api/v1/rollouts/active?limit=1');
      props.onLogin(key.trim());
    } catch (failure) {
      setError(messageOf(failure));
      setBusy(false);
    }
  }

  return (
    <main class="login">
      <h1>fleet-rollout</h1>
      <form onSubmit={submit} aria-describedby="login-help">
        <label class="field">
          <span>Admin API key</span>
          <input
            type="password"
            name="admin-key"
            autoComplete="off"
            required
            value={key}
            onInput={(e) => setKey(e.currentTarget.value)}
            aria-invalid={error ? 'true' : undefined}
            aria-describedby={error ? 'login-error' : undefined}
            autoFocus
          />
        </label>
        <p id="login-help" class="hint">
          Kept in this tab's session storage only; closing the tab or logging out forgets it.
        </p>
        {error && (
          <p id="login-error" class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          Log in
        </button>
      </form>
    </main>
  );
}
