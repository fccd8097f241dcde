/**
 * The admin API as the page calls it: the CLI's client (client/admin-client.ts), plus one rule
 * for reads: a read of a path already in flight joins it instead of sending a second request.
 */
import { adminClient, ApiError } from '../../client/admin-client';
import { apiBase } from './session';

export type Api = ReturnType<typeof dashboardApi>;

export function dashboardApi(adminKey: string) {
  const client = adminClient(apiBase(), adminKey);
  const reads = new Map<string, Promise<unknown>>();

  function get<T>(path: string): Promise<T> {
    const pending = reads.get(path);
    if (pending) return pending as Promise<T>;
    const read = client.call<T>('GET', path).finally(() => reads.delete(path));
    reads.set(path, read);
    return read;
  }

  const send = <T>(method: 'POST' | 'PUT' | 'DELETE', path: string, body: unknown, expect: number | number[] = 200) =>
    client.call<T>(method, path, { ...(body !== undefined ? { body } : {}), expect });

  return { get, send };
}

/** What to tell the operator about a failed call: the API's own message where it sent one. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.error?.message ?? `the API answered ${error.status}`;
  if (error instanceof TypeError) return 'the API could not be reached';
  return error instanceof Error ? error.message : String(error);
}

export const isUnauthorized = (error: unknown) => error instanceof ApiError && error.status === 401;

/** The API's per-field problems of a 400 (`details.issues`), by the top-level field each names. */
export function fieldIssues(error: unknown): Map<string, string[]> {
  const issues = new Map<string, string[]>();
  const details = error instanceof ApiError ? (error.error?.details as { issues?: { path: string; message: string }[] } | undefined) : undefined;
  for (const issue of details?.issues ?? []) {
    const field = issue.path.split(/[.[]/)[0] ?? issue.path;
    issues.set(field, [...(issues.get(field) ?? []), `${issue.path} ${issue.message}`]);
  }
  return issues;
}
