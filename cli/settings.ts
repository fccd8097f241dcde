/**
 * Where the API is and which admin key to use: `--api-url` / `--admin-key`, else `FLEET_API_URL`
 * / `FLEET_ADMIN_KEY`. Read only when a command is about to call the API, so `--help` needs neither.
 */
import { UsageError } from './exit-codes';

export interface ConnectionFlags {
  apiUrl?: string;
  adminKey?: string;
}

export interface Connection {
  /** The API's base URL, without `/api/v1`: paths are added by the client. */
  baseUrl: string;
  adminKey: string;
}

export function connection(flags: ConnectionFlags, env: Readonly<Record<string, string | undefined>>): Connection {
  const apiUrl = (flags.apiUrl ?? env.FLEET_API_URL)?.trim();
  const adminKey = (flags.adminKey ?? env.FLEET_ADMIN_KEY)?.trim();
  const missing = [
    ...(apiUrl ? [] : ["FLEET_API_URL is not set (nor --api-url): the API's base URL, e.g. http://127.0.0.1:3001"]),
    ...(adminKey ? [] : ['FLEET_ADMIN_KEY is not set (nor --admin-key): an admin API key, e.g. the one `npm start` prints']),
  ];
  if (missing.length > 0) throw new UsageError(missing.join('; '));
  return { baseUrl: baseUrlOf(apiUrl!), adminKey: adminKey! };
}

/**
 * Accepts the API's base URL with or without `/api/v1`: the stack's `ApiUrl` output ends with it,
 * `npm start`'s banner does not.
 */
export function baseUrlOf(apiUrl: string): string {
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    throw new UsageError(`FLEET_API_URL "${apiUrl}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`FLEET_API_URL "${apiUrl}" must be an http:// or https:// URL`);
  if (url.search || url.hash) throw new UsageError(`FLEET_API_URL "${apiUrl}" must not carry a query or fragment`);
  return url.href.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
}
