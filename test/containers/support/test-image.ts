/**
 * A test image built from scratch: Debian's static busybox, its symlinks, and busybox httpd
 * serving /www. The "good" variant serves /www/health ("ok", so GET /health is 200); the
 * "broken" one has no health file (404). Published with `podman import` + `podman push`.
 */
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec } from './processes';
import type { Podman } from './podman';

export type TestImageVariant = 'good' | 'broken';

export interface PublishedImage {
  /** `<registry>/<repository>:<tag>` */
  readonly reference: string;
  /** The manifest digest the registry stored, `sha256:…`. */
  readonly digest: string;
}

export interface TestImageOptions {
  podman: Podman;
  registryHost: string;
  tag: string;
  variant: TestImageVariant;
  /** Default `ip:port` httpd binds; a container's `LISTEN` environment variable overrides it. */
  listen: string;
  repository?: string;
}

const APPLETS = ['sh', 'httpd', 'kill', 'sleep', 'cat', 'wget'];

/**
 * The entrypoint is a shell, not httpd itself: httpd as PID 1 ignores SIGTERM (PID 1 has no
 * default signal actions), so `docker stop` would wait out its timeout and SIGKILL. The shell
 * forwards TERM and exits at once, as a well-behaved app does.
 */
function command(listen: string): string[] {
  return [
    '/bin/sh',
    '-c',
    `trap 'kill $pid; exit 0' TERM INT; httpd -f -p "\${LISTEN:-${listen}}" -h /www & pid=$!; wait $pid`,
  ];
}

export async function publishTestImage(options: TestImageOptions): Promise<PublishedImage> {
  const dir = await mkdtemp(join(tmpdir(), 'fleet-image-'));
  try {
    const rootfs = join(dir, 'rootfs');
    await mkdir(join(rootfs, 'bin'), { recursive: true });
    await mkdir(join(rootfs, 'www'), { recursive: true });
    await mkdir(join(rootfs, 'tmp'), { recursive: true });
    await cp('/bin/busybox', join(rootfs, 'bin', 'busybox'));
    for (const applet of APPLETS) await symlink('busybox', join(rootfs, 'bin', applet));
    if (options.variant === 'good') await writeFile(join(rootfs, 'www', 'health'), 'ok');
    const tarPath = join(dir, 'rootfs.tar');
    await exec('tar', ['-C', rootfs, '--owner=0', '--group=0', '-cf', tarPath, '.'], process.env);

    const reference = `${options.registryHost}/${options.repository ?? 'fleet/app'}:${options.tag}`;
    await options.podman.cli([
      'import',
      '--change',
      `CMD ${JSON.stringify(command(options.listen))}`,
      '--change',
      `LABEL io.fleet-rollout.test-variant=${options.variant}`,
      tarPath,
      reference,
    ]);
    const digestFile = join(dir, 'digest');
    await options.podman.cli(['push', '--tls-verify=false', '--digestfile', digestFile, reference]);
    // Only the registry should hold it: the engine under test must pull it like a device would.
    await options.podman.cli(['rmi', '--force', reference]);
    return { reference, digest: (await readFile(digestFile, 'utf8')).trim() };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
