/**
 * A private Podman serving the Docker Engine API on a unix socket in a temp dir, with the
 * project's containers.conf (runc, cgroupfs, ulimits this machine needs), a registries.conf that
 * trusts the given plain-HTTP loopback registries, and its own storage root, so a test never
 * touches the machine's default images or containers.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { exec, startDaemon, waitUntil } from './processes';

export interface Podman {
  /** Path of the Docker Engine API socket. */
  readonly socketPath: string;
  /** A dockerode client on that socket, as the agent builds one. */
  readonly docker: Docker;
  /** Runs the podman CLI against the same configuration and storage. */
  cli(args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export const containersConf = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
`;

export function registriesConf(insecureRegistries: string[]): string {
  const entries = insecureRegistries.map((location) => `[[registry]]\nlocation = "${location}"\ninsecure = true\n`);
  return ['unqualified-search-registries = []', '', ...entries].join('\n');
}

function storageConf(dir: string): string {
  // vfs needs no kernel overlay support, which nested build machines may lack; test images are tiny.
  return `[storage]\ndriver = "vfs"\ngraphroot = "${dir}/storage"\nrunroot = "${dir}/run"\n`;
}

export async function startPodman(options: { insecureRegistries: string[] }): Promise<Podman> {
  const dir = await mkdtemp(join(tmpdir(), 'fleet-podman-'));
  await writeFile(join(dir, 'containers.conf'), containersConf);
  await writeFile(join(dir, 'registries.conf'), registriesConf(options.insecureRegistries));
  await writeFile(join(dir, 'storage.conf'), storageConf(dir));
  const env = {
    ...process.env,
    CONTAINERS_CONF: join(dir, 'containers.conf'),
    CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf'),
    CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'),
  };
  const socketPath = join(dir, 'podman.sock');
  const service = startDaemon('podman', ['system', 'service', '--time=0', `unix://${socketPath}`], env);
  const docker = new Docker({ socketPath });
  await waitUntil(service, 'podman system service', async () => {
    await docker.ping();
    return true;
  });
  const cli = (args: string[]) => exec('podman', args, env);
  return {
    socketPath,
    docker,
    cli,
    async stop() {
      // Containers outlive the service (conmon keeps them), so remove them before it goes.
      await cli(['rm', '--all', '--force', '--time', '0']).catch(() => undefined);
      await service.stop();
      await cli(['system', 'prune', '--all', '--force']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
