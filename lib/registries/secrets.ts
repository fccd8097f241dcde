/**
 * Where a configured registry's webhook secret is kept, behind one interface with two ways of
 * keeping it, chosen by the registry's kind:
 *
 * - `hashed`: kinds that only repeat a token we gave them (Docker Hub's `?token=`, Distribution's
 *   bearer header: their `sharedToken`) are checked by hashing what they present and comparing
 *   hashes in constant time, so the registry's item holds the secret's SHA-256 and nothing that
 *   would let a reader of the table send pushes. The secret is random (32 bytes) or at least 16
 *   characters given by the admin, so an unsalted SHA-256 is enough.
 * - `inSecretsManager`: kinds that check an HMAC of the body need the secret itself, so it is
 *   kept in Secrets Manager (on the embedded host, its twin in the data dir), one secret per
 *   registry under the stack's prefix (`REGISTRY_SECRET_PREFIX`), which is all the functions'
 *   IAM grants reach. The item records which version is the registry's, so a rotation writes the
 *   new version first and takes effect once the item names it; reading a version by its id can
 *   be cached for minutes (a version's value never changes), as lib/secret-values.ts does.
 *
 * The default registries (`docker-registry`, `distribution`) are not kept here: they take the
 * deployment's global webhook secret (lib/secret-values.ts).
 */
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
} from '@aws-sdk/client-secrets-manager';
import { randomUUID } from 'node:crypto';
import { secretsManager } from '../aws-clients';
import { registrySecretPrefix } from '../config';
import type { RegistryWebhook, WebhookRequest } from '../registry';
import { verifySharedSecretHash } from '../registry/sender-auth';
import { randomSecret, sha256Hex } from '../secrets';
import type { StoredSecret } from '../store/registries';

export interface SecretKeeping {
  /** How the secret is kept, as answers name it (`secret_kept_as`). */
  readonly name: 'sha256' | 'secrets_manager';
  /** Keeps `secret` as the registry's (a rotation keeps a new one); what the registry's item records. */
  keep(registry: string, secret: string): Promise<StoredSecret>;
  /** @throws Unauthorized unless the request carries the registry's secret as its kind sends it. */
  verify(webhook: RegistryWebhook, stored: StoredSecret, request: WebhookRequest): Promise<void>;
  /** Forgets the registry's secret (the registry is deleted). */
  discard(registry: string, stored: StoredSecret): Promise<void>;
}

export const hashed: SecretKeeping = {
  name: 'sha256',
  async keep(_registry, secret) {
    return { sha256: sha256Hex(secret) };
  },
  async verify(webhook, stored, request) {
    if (!webhook.sharedToken || !('sha256' in stored)) throw new Error("a registry's secret is kept as a hash, but its kind does not present a shared token");
    verifySharedSecretHash(request, webhook.sharedToken, stored.sha256);
  },
  async discard() {
    // Nothing is kept anywhere but in the registry's item.
  },
};

/** Values by `<secret id>#<version id>`: a version never changes, so only memory bounds the time. */
const valueCacheMs = 5 * 60_000;
const values = new Map<string, { value: string; until: number }>();

/** A registry's webhook secret; its pull password (lib/registries/pull-credentials.ts) is `<this>/pull`. Registry names have no `/`. */
export const secretIdOf = (registry: string) => `${registrySecretPrefix()}${registry}`;

export const inSecretsManager: SecretKeeping = {
  name: 'secrets_manager',
  async keep(registry, secret) {
    const secretId = secretIdOf(registry);
    return { secret_id: secretId, version_id: await putSecretVersion(secretId, secret, `fleet-rollout: the webhook secret of registry ${registry}`) };
  },
  async verify(webhook, stored, request) {
    if (!('secret_id' in stored)) throw new Error("a registry's secret is kept in Secrets Manager, but its item names no secret");
    webhook.authenticate(request, await secretVersionValue(stored.secret_id, stored.version_id));
  },
  async discard(_registry, stored) {
    if ('secret_id' in stored) await deleteSecret(stored.secret_id);
  },
};

const isNamed = (error: unknown, name: string) => (error as Error | undefined)?.name === name;

/**
 * Makes `value` the newest version of the secret `secretId` under the stack's prefix, creating
 * the secret if there is none yet; the version's id, for the registry's item to name. Our own
 * version id (ClientRequestToken), so a retry of the same call is idempotent.
 */
export async function putSecretVersion(secretId: string, value: string, description: string): Promise<string> {
  const versionId = randomUUID();
  try {
    await secretsManager().send(new PutSecretValueCommand({ SecretId: secretId, SecretString: value, ClientRequestToken: versionId }));
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException || isNamed(error, 'ResourceNotFoundException'))) throw error;
    try {
      await secretsManager().send(new CreateSecretCommand({ Name: secretId, SecretString: value, ClientRequestToken: versionId, Description: description }));
    } catch (raced) {
      // Created by a request at the same time: this value becomes the newest version.
      if (!(raced instanceof ResourceExistsException || isNamed(raced, 'ResourceExistsException'))) throw raced;
      await secretsManager().send(new PutSecretValueCommand({ SecretId: secretId, SecretString: value, ClientRequestToken: versionId }));
    }
  }
  return versionId;
}

/** Deletes the secret at once, not after a recovery window: a registry made again under the name gets a new one. Gone already is fine. */
export async function deleteSecret(secretId: string): Promise<void> {
  try {
    await secretsManager().send(new DeleteSecretCommand({ SecretId: secretId, ForceDeleteWithoutRecovery: true }));
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException || isNamed(error, 'ResourceNotFoundException'))) throw error;
  }
}

/** One version's value, cached: a version never changes. */
export async function secretVersionValue(secretId: string, versionId: string): Promise<string> {
  const key = `${secretId}#${versionId}`;
  const hit = values.get(key);
  if (hit && hit.until > Date.now()) return hit.value;
  const { SecretString } = await secretsManager().send(new GetSecretValueCommand({ SecretId: secretId, VersionId: versionId }));
  const value = SecretString ?? '';
  values.set(key, { value, until: Date.now() + valueCacheMs });
  return value;
}

/** How a new secret of a registry of this kind is kept: hashed when the kind only repeats a token. */
export function keepingFor(webhook: RegistryWebhook): SecretKeeping {
  return webhook.sharedToken ? hashed : inSecretsManager;
}

/** How a secret as stored was kept. */
export function keepingOf(stored: StoredSecret): SecretKeeping {
  return 'sha256' in stored ? hashed : inSecretsManager;
}

/** A new webhook secret: 32 random bytes, URL-safe (Docker Hub carries it in a query string). */
export function newWebhookSecret(): string {
  return `frw_${randomSecret(32)}`;
}
