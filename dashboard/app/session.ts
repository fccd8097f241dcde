/** The admin key for this tab only (sessionStorage), and where the API is relative to the page. */
const storageKey = 'fleet-rollout.admin-key';

export const readKey = (): string | null => sessionStorage.getItem(storageKey);
export const saveKey = (key: string): void => sessionStorage.setItem(storageKey, key);
export const forgetKey = (): void => sessionStorage.removeItem(storageKey);

/** The API's base: the page is `<base>/dashboard`, the API `<base>/api/v1` (a stage prefix stays). */
export function apiBase(pathname = location.pathname): string {
  return `${location.origin}${pathname.replace(/\/dashboard\/?$/, '')}`;
}
