/**
 * What the agent needs from a container engine, whichever serves it: the Docker Engine API
 * (Docker, or Podman's `podman system service`) in production, memory in the simulator and tests.
 */
import { createHash } from 'node:crypto';

/** Labels the agent puts on the containers it creates; it touches only containers with its own device label. */
export const labels = {
  app: 'io.fleet-rollout.app',
  device: 'io.fleet-rollout.device',
  /** The image as the target state named it (the engine may run it by digest). */
  image: 'io.fleet-rollout.image',
  digest: 'io.fleet-rollout.digest',
  /** A hash of the `container` settings the target state gave, to see when they change. */
  settings: 'io.fleet-rollout.settings',
} as const;

/**
 * An app's container settings in the target state (snake_case on the wire). Each maps onto one
 * field of the Docker Engine API's container create: `network_mode` → `HostConfig.NetworkMode`,
 * `ports` → `PortBindings` (`["8080:80/tcp"]` as the target state gives them, see
 * docs/device-protocol.md; a map when read back from an adopted container), `volumes` → `Binds`,
 * `restart_policy` → `RestartPolicy.Name`, `env` → `Env`, `command` → `Cmd`.
 */
export interface ContainerSettings {
  network_mode?: string;
  ports?: Record<string, string | number | null> | string[];
  volumes?: string[];
  restart_policy?: string;
  env?: Record<string, string> | string[];
  command?: string[];
}

export interface ContainerSpec {
  name: string;
  /** The reference to run: by digest when the target named one. */
  image: string;
  labels: Record<string, string>;
  settings: ContainerSettings;
}

/** Docker's states, and Podman's `stopping` (a stop under way, e.g. one an agent killed mid-update left behind). */
export type ContainerState = 'created' | 'running' | 'restarting' | 'exited' | 'paused' | 'dead' | 'removing' | 'stopping';

/** States in which a container's process is gone: it can be removed without stopping it first. */
export function hasStopped(state: ContainerState): boolean {
  return state === 'exited' || state === 'created' || state === 'dead';
}

export interface ContainerInfo {
  id: string;
  name: string;
  image: string;
  labels: Record<string, string>;
  state: ContainerState;
  /** The settings it was created with, so an app without settings keeps them across an update. */
  settings: ContainerSettings;
}

export type StartOutcome = { ok: true } | { ok: false; message: string };

export interface Engine {
  /** Containers that carry the app label (any device's, and unowned ones an agent may adopt). */
  listContainers(): Promise<ContainerInfo[]>;
  /** Pulls `image` and returns the registry digest it resolved to, when the engine knows one. */
  pull(image: string): Promise<string | undefined>;
  /** The registry digest of a local image, if any. */
  imageDigest(image: string): Promise<string | undefined>;
  create(spec: ContainerSpec): Promise<string>;
  start(id: string): Promise<void>;
  stop(id: string): Promise<void>;
  remove(id: string): Promise<void>;
  /** Waits `settleMs`: running through it is success; exited, dead or restarting is failure. */
  waitRunning(id: string, settleMs: number): Promise<StartOutcome>;
}

/** Order-independent hash of settings, for the settings label. */
export function settingsHash(settings: ContainerSettings): string {
  const canonical = (value: unknown): unknown =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])]))
      : value;
  return createHash('sha256').update(JSON.stringify(canonical(settings))).digest('hex').slice(0, 32);
}

/** `fleet-<first 8 of uuid>-<app>`: names stay readable and apart when agents share an engine. */
export function containerName(deviceUuid: string, app: string): string {
  return `fleet-${deviceUuid.replaceAll('-', '').slice(0, 8)}-${app}`;
}

/** `repo:tag@sha256:…` → `repo@sha256:…`: what to pull when the target names a digest. */
export function pullReference(image: string): string {
  const at = image.indexOf('@');
  if (at === -1) return image;
  const name = image.slice(0, at);
  const lastSlash = name.lastIndexOf('/');
  const colon = name.indexOf(':', lastSlash + 1);
  return `${colon === -1 ? name : name.slice(0, colon)}${image.slice(at)}`;
}
