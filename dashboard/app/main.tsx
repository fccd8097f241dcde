/** The dashboard: log in with the admin key, then rollouts, policies and devices, by the URL's hash. */
import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import './styles.css';
import { dashboardApi, isUnauthorized } from './api';
import { DevicesPage } from './devices-page';
import { Login } from './login';
import { PoliciesPage } from './policies-page';
import { RolloutPage } from './rollout-page';
import { RolloutsPage } from './rollouts-page';
import { forgetKey, readKey, saveKey } from './session';

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const onChange = () => setHash(location.hash);
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return hash;
}

function App() {
  const [key, setKey] = useState(readKey());
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const [announcement, setAnnouncement] = useState('');
  const hash = useHash();
  const api = useMemo(() => {
    if (!key) return undefined;
    const inner = dashboardApi(key);
    // A key revoked while the page is open: back to the login with the API's word for it.
    const watch = <T,>(promise: Promise<T>) =>
      promise.catch((error: unknown) => {
        if (isUnauthorized(error)) {
          forgetKey();
          setNotice('The API no longer accepts this key; log in again.');
          setKey(null);
        }
        throw error;
      });
    return { get: <T,>(path: string) => watch(inner.get<T>(path)), send: inner.send };
  }, [key]);

  if (!key || !api) {
    return (
      <Login
        notice={notice}
        onLogin={(accepted) => {
          saveKey(accepted);
          setNotice(undefined);
          setKey(accepted);
        }}
      />
    );
  }

  const route = hash.replace(/^#\/?/, '');
  const rollout = /^rollouts\/(.+)$/.exec(route)?.[1];
  const section = rollout ? 'rollouts' : route === 'policies' ? 'policies' : route === 'devices' ? 'devices' : 'rollouts';
  const announce = (message: string) => setAnnouncement(message);
  const link = (target: string, name: string, title: string) => (
    <a href={`#/${target}`} aria-current={section === name ? 'page' : undefined}>
      {title}
    </a>
  );

  return (
    <>
      <header class="top">
        <span class="brand">fleet-rollout</span>
        <nav aria-label="Sections">
          {link('', 'rollouts', 'Rollouts')}
          {link('policies', 'policies', 'Policies')}
          {link('devices', 'devices', 'Devices')}
        </nav>
        <button
          type="button"
          class="small"
          onClick={() => {
            forgetKey();
            setKey(null);
          }}
        >
          Log out
        </button>
      </header>
      <main>
        {rollout ? (
          <RolloutPage api={api} id={decodeURIComponent(rollout)} announce={announce} />
        ) : section === 'policies' ? (
          <PoliciesPage api={api} announce={announce} />
        ) : section === 'devices' ? (
          <DevicesPage api={api} />
        ) : (
          <RolloutsPage api={api} />
        )}
      </main>
      <div class="visually-hidden" role="status" aria-live="polite">
        {announcement}
      </div>
    </>
  );
}

render(<App />, document.getElementById('app')!);
