/**
 * How an app's container is run, as part of its target state: the agent creates the container
 * with these settings (the Docker Engine API's `Cmd`, `Env`, `HostConfig`). Checked strictly
 * here, since an agent turns them into a container on the device; sizes are bounded so that a
 * device item stays far below DynamoDB's 400 KB.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import type { TargetApp } from './domain/types';

export type ContainerSettings = NonNullable<TargetApp['container']>;

const maxEntries = 64;

const portNumber = (value: string) => {
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 && n <= 65535;
};

/** `[ip:]host:container[/tcp|udp]`; an IPv6 address goes in brackets: `[::1]:8080:80`. */
const portPattern = /^(?:(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]):)?(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/;

export function isPortSpec(value: string): boolean {
  const match = portPattern.exec(value);
  if (!match) return false;
  const [, ip, host, container] = match;
  if (ip !== undefined) {
    const address = ip.startsWith('[') ? ip.slice(1, -1) : ip;
    if (isIP(address) !== (ip.startsWith('[') ? 6 : 4)) return false;
  }
  return portNumber(host!) && portNumber(container!);
}

const volumeName = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/** An absolute path without `..` segments or `:`. */
function isAbsolutePath(value: string): boolean {
  return value.startsWith('/') && !value.includes(':') && !value.includes('\0') && !value.split('/').includes('..');
}

/** `name-or-/abs/path:/abs/path[:ro]`. */
export function isVolumeSpec(value: string): boolean {
  const parts = value.split(':');
  if (parts.length < 2 || parts.length > 3) return false;
  const [source, target, mode] = parts as [string, string, string?];
  if (mode !== undefined && mode !== 'ro') return false;
  return (volumeName.test(source) || isAbsolutePath(source)) && isAbsolutePath(target);
}

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;

const noNul = (value: string) => !value.includes('\0');

export const containerSettingsSchema = z.strictObject({
  command: z.array(z.string().max(4096).refine(noNul, 'must not contain a NUL character')).min(1).max(maxEntries).optional(),
  env: z
    .record(
      z.string().max(128).regex(envName, 'must be a variable name ([A-Za-z_][A-Za-z0-9_]*)').refine((name) => name !== '__proto__', 'must not be "__proto__"'),
      z.string().max(4096).refine(noNul, 'must not contain a NUL character'),
    )
    .refine((env) => Object.keys(env).length <= 128, 'must have at most 128 variables')
    .optional(),
  network_mode: z.enum(['host', 'bridge']).optional(),
  ports: z.array(z.string().max(64).refine(isPortSpec, 'must be a port mapping "[ip:]host:container[/tcp|udp]" with ports from 1 to 65535')).max(maxEntries).optional(),
  volumes: z.array(z.string().max(1024).refine(isVolumeSpec, 'must be a volume "name-or-/abs/path:/abs/path[:ro]"')).max(maxEntries).optional(),
  restart_policy: z.enum(['no', 'always', 'unless-stopped', 'on-failure']).optional(),
}) satisfies z.ZodType<ContainerSettings>;

/** JSON with object keys sorted: DynamoDB does not keep a map's key order, so this is how two settings compare. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

export function sameContainerSettings(a: ContainerSettings | null | undefined, b: ContainerSettings | null | undefined): boolean {
  return canonical(a ?? null) === canonical(b ?? null);
}
