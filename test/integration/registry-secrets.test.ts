/**
 * Where registries' secrets are kept (lib/registries/secrets.ts), against the embedded host's
 * Secrets Manager twin through the real SDK client: a kind that checks an HMAC gets its secret
 * back from the store by the version its registry names, a rotation adds a version, a delete
 * removes the secret, and the secrets outlive a restart in the data dir (mode 0600). A token kind
 * keeps a SHA-256 only. The kinds of this branch all compare tokens, so the HMAC kind here is a
 * small one of the test's own.
 */
import { createHmac } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Host } from '../../infra/embedded/host';
import type { RegistryWebhook, WebhookRequest } from '../../lib/registry';

let host: Host | undefined;
let dataDir: string;
let secrets: typeof import('../../lib/registries/secrets');
let errors: typeof import('../../lib/errors');

/** A host in a fresh module registry, as a new process would load it. */
async function startFresh(): Promise<void> {
  vi.resetModules();
  const { startHost } = await import('../../infra/embedded/host');
  host = await startHost({ port: 0, dataDir, quiet: true });
  secrets = await import('../../lib/registries/secrets');
  errors = await import('../../lib/errors');
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'fleet-registry-secrets-'));
  await startFresh();
});

afterAll(async () => {
  await host?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

/** A registry that signs its body: `X-Signature: sha256=<hex HMAC-SHA256 of the body>`. */
const signing: RegistryWebhook = {
  authenticate(request, secret) {
    const expected = `sha256=${createHmac('sha256', secret).update(request.body).digest('hex')}`;
    if (request.headers['x-signature'] !== expected) throw new errors.Unauthorized('signature is not valid');
  },
  parse: () => [],
};

const signed = (secret: string, body = '{"pushed":true}'): WebhookRequest => ({
  headers: { 'x-signature': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` },
  query: {},
  body,
});

describe("an HMAC kind's secret", () => {
  it('is kept in Secrets Manager under the prefix, by a version its registry names', async () => {
    const keeping = secrets.keepingFor(signing);
    expect(keeping.name).toBe('secrets_manager');
    const stored = await keeping.keep('signer', 'first-secret-0123456789');
    expect(stored).toEqual({ secret_id: 'fleet/registries/signer', version_id: expect.stringMatching(/^[0-9a-f-]{36}$/) });

    await keeping.verify(signing, stored, signed('first-secret-0123456789'));
    await expect(keeping.verify(signing, stored, signed('another-secret-0000000'))).rejects.toBeInstanceOf(errors.Unauthorized);

    // A rotation is a new version; the registry's item decides which one counts.
    const rotated = await keeping.keep('signer', 'second-secret-0123456789');
    expect(rotated).toEqual({ secret_id: 'fleet/registries/signer', version_id: expect.any(String) });
    expect(rotated).not.toEqual(stored);
    await keeping.verify(signing, rotated, signed('second-secret-0123456789'));
    await expect(keeping.verify(signing, rotated, signed('first-secret-0123456789'))).rejects.toBeInstanceOf(errors.Unauthorized);
  });

  it('outlives a restart, in a file only its owner can read', async () => {
    const stored = await secrets.inSecretsManager.keep('survivor', 'kept-across-restarts-0001');
    const file = await stat(join(dataDir, 'secrets-manager.json'));
    expect(file.mode & 0o777).toBe(0o600);
    await host!.stop();
    await startFresh();
    await secrets.inSecretsManager.verify(signing, stored, signed('kept-across-restarts-0001'));
  });

  it('is deleted with its registry, at once, so that a registry made again under the name starts afresh', async () => {
    const stored = await secrets.inSecretsManager.keep('doomed', 'doomed-secret-0123456789');
    await secrets.inSecretsManager.discard('doomed', stored);
    await expect(secrets.inSecretsManager.verify(signing, stored, signed('doomed-secret-0123456789'))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    // Deleting what is gone already is not an error (a retried delete).
    await secrets.inSecretsManager.discard('doomed', stored);
    const again = await secrets.inSecretsManager.keep('doomed', 'reborn-secret-0123456789');
    await secrets.inSecretsManager.verify(signing, again, signed('reborn-secret-0123456789'));
  });
});

describe("a token kind's secret", () => {
  it('is kept as its SHA-256 only, and checked against what the registry presents', async () => {
    const { registries } = await import('../../lib/registry');
    const dockerHub = registries['docker-hub'];
    const keeping = secrets.keepingFor(dockerHub);
    expect(keeping.name).toBe('sha256');
    const stored = await keeping.keep('hub', 'frw_token-kept-as-a-hash-01');
    expect(stored).toEqual({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(JSON.stringify(stored)).not.toContain('token-kept');
    const request = (token?: string): WebhookRequest => ({ headers: {}, query: token === undefined ? {} : { token }, body: '{}' });
    await keeping.verify(dockerHub, stored, request('frw_token-kept-as-a-hash-01'));
    await expect(keeping.verify(dockerHub, stored, request('frw_token-kept-as-a-hash-02'))).rejects.toThrow('not valid');
    await expect(keeping.verify(dockerHub, stored, request())).rejects.toThrow('?token=');
    expect(host!.endpoints.secretsManager).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });
});
