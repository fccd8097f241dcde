/**
 * Reads something again and again while the page shows it: every `intervalMs`, never while the
 * previous read is still out, and not at all while the tab is hidden (once visible again, at once).
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { messageOf } from './api';

export interface Refreshed<T> {
  data: T | undefined;
  error: string | undefined;
  /** Reads now (after a command), unless a read is already out. */
  reload: () => void;
}

export function useRefresh<T>(read: () => Promise<T>, intervalMs: number, key: string): Refreshed<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const inFlight = useRef(false);
  const readRef = useRef(read);
  readRef.current = read;
  /** Which `key` the reads are for: an answer for an earlier one is dropped. */
  const generation = useRef(0);

  const reload = useCallback(() => {
    if (inFlight.current || document.hidden) return;
    inFlight.current = true;
    const asked = generation.current;
    readRef.current()
      .then((value) => {
        if (asked !== generation.current) return;
        setData(value);
        setError(undefined);
      })
      .catch((failure: unknown) => asked === generation.current && setError(messageOf(failure)))
      .finally(() => (inFlight.current = false));
  }, []);

  useEffect(() => {
    generation.current++;
    inFlight.current = false;
    setData(undefined);
    setError(undefined);
    reload();
  }, [key, reload]);

  useEffect(() => {
    const timer = setInterval(reload, intervalMs);
    const onVisibility = () => !document.hidden && reload();
    document.addEventListener('visibilitychange', onVisibility);
    return () => {
      clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisibility);
    };
  }, [intervalMs, reload]);

  return { data, error, reload };
}
