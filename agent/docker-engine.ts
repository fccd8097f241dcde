/**
 * The engine on a real device: the Docker Engine API, which Docker serves and Podman serves
 * through `podman system service`, driven by dockerode.
 */
import Docker from 'dockerode';
import type { ContainerInfo, ContainerSettings, ContainerSpec, ContainerState, Engine, StartOutcome } from './engine';
import { labels } from './engine';

/** `unix:///var/run/docker.sock` or `tcp://host:2375` → dockerode's options. */
export function dockerOptions(dockerHost: string): Docker.DockerOptions {
  const url = new URL(dockerHost);
  if (url.protocol === 'unix:') return { socketPath: url.pathname };
  if (url.protocol === 'tcp:' || url.protocol === 'http:') return { host: url.hostname, port: Number(url.port || 2375), protocol: 'http' };
  if (url.protocol === 'https:') return { host: url.hostname, port: Number(url.port || 2376), protocol: 'https' };
  throw new Error(`DOCKER_HOST ${dockerHost}: use unix://, tcp://, http:// or https://`);
}

/** `{"80/tcp": 8080}` or `["8080:80", "127.0.0.1:53:53/udp"]` → `PortBindings`. */
function portBindings(ports: NonNullable<ContainerSettings['ports']>): Record<string, { HostIp?: string; HostPort: string }[]> {
  const bindings: Record<string, { HostIp?: string; HostPort: string }[]> = {};
  const add = (containerPort: string, hostPort: string, hostIp?: string) => {
    const key = containerPort.includes('/') ? containerPort : `${containerPort}/tcp`;
    (bindings[key] ??= []).push({ ...(hostIp ? { HostIp: hostIp } : {}), HostPort: hostPort });
  };
  if (Array.isArray(ports)) {
    for (const spec of ports) {
      const parts = spec.split(':');
      const containerPort = parts.pop()!;
      const hostPort = parts.pop() ?? containerPort.split('/')[0]!;
      add(containerPort, hostPort, parts.pop());
    }
  } else for (const [containerPort, hostPort] of Object.entries(ports)) add(containerPort, hostPort === null ? '' : String(hostPort));
  return bindings;
}

function envList(env: NonNullable<ContainerSettings['env']>): string[] {
  return Array.isArray(env) ? env : Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

/** The create body for a container spec: a pure function, so the mapping is tested without an engine. */
export function createOptions(spec: ContainerSpec): Docker.ContainerCreateOptions {
  const s = spec.settings;
  const hostConfig: Docker.HostConfig = {
    ...(s.network_mode ? { NetworkMode: s.network_mode } : {}),
    ...(s.ports ? { PortBindings: portBindings(s.ports) } : {}),
    ...(s.volumes ? { Binds: s.volumes } : {}),
    ...(s.restart_policy ? { RestartPolicy: { Name: s.restart_policy } } : {}),
  };
  const exposed = s.ports ? Object.fromEntries(Object.keys(portBindings(s.ports)).map((p) => [p, {}])) : undefined;
  return {
    name: spec.name,
    Image: spec.image,
    Labels: spec.labels,
    ...(s.env ? { Env: envList(s.env) } : {}),
    ...(s.command ? { Cmd: s.command } : {}),
    ...(exposed ? { ExposedPorts: exposed } : {}),
    HostConfig: hostConfig,
  };
}

/** The settings a container was created with, read back from its inspect data (for adoption). */
export function settingsOf(inspect: Pick<Docker.ContainerInspectInfo, 'HostConfig' | 'Config'>): ContainerSettings {
  const h = inspect.HostConfig;
  const ports = h.PortBindings as Record<string, { HostIp?: string; HostPort: string }[] | null> | undefined;
  const portList = Object.entries(ports ?? {}).flatMap(([containerPort, binds]) => (binds ?? []).map((b) => `${b.HostIp ? `${b.HostIp}:` : ''}${b.HostPort}:${containerPort}`));
  return {
    ...(h.NetworkMode && h.NetworkMode !== 'default' ? { network_mode: h.NetworkMode } : {}),
    ...(portList.length ? { ports: portList } : {}),
    ...(h.Binds?.length ? { volumes: h.Binds } : {}),
    ...(h.RestartPolicy?.Name && h.RestartPolicy.Name !== 'no' ? { restart_policy: h.RestartPolicy.Name } : {}),
    ...(inspect.Config.Env?.length ? { env: inspect.Config.Env } : {}),
    ...(inspect.Config.Cmd?.length ? { command: inspect.Config.Cmd } : {}),
  };
}

function repository(image: string): string {
  const at = image.indexOf('@');
  const name = at === -1 ? image : image.slice(0, at);
  const colon = name.indexOf(':', name.lastIndexOf('/') + 1);
  return colon === -1 ? name : name.slice(0, colon);
}

/**
 * The text of a non-TTY container's log stream: frames of an 8-byte header (stream type, three
 * zero bytes, big-endian length) and their payload. Anything not framed that way is taken as text.
 */
export function demultiplexed(raw: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= raw.length) {
    const type = raw[offset]!;
    const length = raw.readUInt32BE(offset + 4);
    if (type > 2 || raw[offset + 1] !== 0 || raw[offset + 2] !== 0 || raw[offset + 3] !== 0 || offset + 8 + length > raw.length) return raw.toString('utf8');
    parts.push(raw.subarray(offset + 8, offset + 8 + length));
    offset += 8 + length;
  }
  return offset === raw.length ? Buffer.concat(parts).toString('utf8') : raw.toString('utf8');
}

export class DockerEngine implements Engine {
  readonly docker: Docker;

  constructor(dockerHost: string) {
    this.docker = new Docker(dockerOptions(dockerHost));
  }

  async listContainers(): Promise<ContainerInfo[]> {
    const list = await this.docker.listContainers({ all: true, filters: { label: [labels.app] } });
    return Promise.all(
      list.map(async (c) => {
        const inspect = await this.docker.getContainer(c.Id).inspect();
        return {
          id: c.Id,
          name: (c.Names[0] ?? '').replace(/^\//, ''),
          image: inspect.Config.Image,
          labels: c.Labels ?? {},
          state: (inspect.State.Restarting ? 'restarting' : inspect.State.Status) as ContainerState,
          settings: settingsOf(inspect),
        };
      }),
    );
  }

  async pull(image: string): Promise<string | undefined> {
    const stream = await this.docker.pull(image);
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(stream, (error: Error | null, events: { error?: string }[]) => {
        const failed = error ?? (events.find((e) => e.error) ? new Error(events.find((e) => e.error)!.error) : null);
        if (failed) reject(failed);
        else resolve();
      });
    });
    return this.imageDigest(image);
  }

  async imageDigest(image: string): Promise<string | undefined> {
    try {
      const info = await this.docker.getImage(image).inspect();
      const repo = repository(image);
      const match = (info.RepoDigests ?? []).find((d) => d.startsWith(`${repo}@`)) ?? info.RepoDigests?.[0];
      return match?.slice(match.indexOf('@') + 1);
    } catch {
      return undefined;
    }
  }

  async create(spec: ContainerSpec): Promise<string> {
    return (await this.docker.createContainer(createOptions(spec))).id;
  }

  async start(id: string): Promise<void> {
    await this.docker.getContainer(id).start();
  }

  async stop(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: 10 });
    } catch (error) {
      // 304: already stopped.
      if ((error as { statusCode?: number }).statusCode !== 304) throw error;
    }
  }

  async remove(id: string): Promise<void> {
    await this.docker.getContainer(id).remove({ force: true });
  }

  /** The last lines a container wrote (stdout and stderr), for the report of why it did not stay up. */
  private async lastOutput(id: string): Promise<string | undefined> {
    try {
      const raw = (await this.docker.getContainer(id).logs({ stdout: true, stderr: true, tail: 5, follow: false })) as unknown as Buffer;
      const text = demultiplexed(raw).trim();
      return text ? text.slice(-500) : undefined;
    } catch {
      return undefined;
    }
  }

  async waitRunning(id: string, settleMs: number): Promise<StartOutcome> {
    const until = Date.now() + settleMs;
    for (;;) {
      const { State } = await this.docker.getContainer(id).inspect();
      if (State.Restarting || State.Status === 'exited' || State.Status === 'dead') {
        const output = await this.lastOutput(id);
        return {
          ok: false,
          message: `container ${State.Restarting ? 'is restarting' : State.Status} (exit code ${State.ExitCode})${State.Error ? `: ${State.Error}` : ''}${output ? `; its last output: ${output}` : ''}`,
        };
      }
      if (Date.now() >= until) return State.Running ? { ok: true } : { ok: false, message: `container is ${State.Status}` };
      await new Promise((r) => setTimeout(r, Math.min(250, Math.max(10, until - Date.now()))));
    }
  }
}
