/**
 * A real CNCF Distribution registry (Debian's `docker-registry`, 2.8) on a free loopback port,
 * plain HTTP, whose push notifications go to `webhookUrl` with `Authorization: Bearer <secret>`:
 * the shape `lib/registry/distribution.ts` accepts at `POST /api/v1/webhooks/distribution`.
 * With `tokenAuth` it asks for bearer tokens as Docker Hub does (./token-service.ts issues them).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startDaemon, waitUntil } from './processes';

export interface Registry {
  /** `127.0.0.1:<port>`, the host part of image references. */
  readonly host: string;
  /** `http://127.0.0.1:<port>`, the base of its API. */
  readonly url: string;
  stop(): Promise<void>;
}

/** Distribution's `auth.token`: every request needs a token the realm issued, signed by a key the bundle's certificate vouches for. */
export interface TokenAuth {
  realm: string;
  service: string;
  issuer: string;
  rootCertBundle: string;
}

export interface RegistryOptions {
  webhookUrl?: string;
  webhookSecret?: string;
  tokenAuth?: TokenAuth;
}

export function registryConfig(dir: string, address: string, options: RegistryOptions): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${dir}/data`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${address}`,
  ];
  if (options.tokenAuth) {
    const { realm, service, issuer, rootCertBundle } = options.tokenAuth;
    lines.push('auth:', '  token:', `    realm: ${JSON.stringify(realm)}`, `    service: ${JSON.stringify(service)}`, `    issuer: ${JSON.stringify(issuer)}`, `    rootcertbundle: ${JSON.stringify(rootCertBundle)}`);
  }
  if (options.webhookUrl) {
    lines.push(
      'notifications:',
      '  endpoints:',
      '    - name: fleet-rollout',
      `      url: ${JSON.stringify(options.webhookUrl)}`,
      ...(options.webhookSecret
        ? ['      headers:', `        Authorization: [${JSON.stringify(`Bearer ${options.webhookSecret}`)}]`]
        : []),
      '      timeout: 2s',
      '      threshold: 3',
      // The registry retries a failed delivery after this long; short, so a test sees it soon.
      '      backoff: 1s',
    );
  }
  return lines.join('\n') + '\n';
}

export async function startRegistry(options: RegistryOptions = {}): Promise<Registry> {
  const dir = await mkdtemp(join(tmpdir(), 'fleet-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const configPath = join(dir, 'config.yml');
  await writeFile(configPath, registryConfig(dir, host, options));
  const daemon = startDaemon('/usr/bin/docker-registry', ['serve', configPath], process.env);
  // Behind token auth, /v2/ answers 401 once the registry is up.
  const up = (status: number) => status === 200 || (options.tokenAuth !== undefined && status === 401);
  await waitUntil(daemon, 'docker-registry', async () => up((await fetch(`http://${host}/v2/`)).status));
  return {
    host,
    url: `http://${host}`,
    async stop() {
      await daemon.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
