/**
 * A registry's pull credentials: what the digest look-up (lib/registries/push-digests.ts) signs in
 * with when a push names no digest and its repository is private. The admin gives a username and
 * a password (or an access token the registry takes in its place); the password is write-only:
 * it is kept in Secrets Manager (on the embedded host, its twin in the data dir) as the secret
 * `<prefix><registry>/pull`, the registry's item records only the username and which version is
 * current, and no answer ever carries it. Changing the password writes a new version first, so
 * the item names a version that exists; removing the credentials or the registry deletes the
 * secret.
 *
 * Only the webhook function reads it (IAM `read` on the prefix), the admin API only writes it.
 */
import { deleteSecret, putSecretVersion, secretIdOf, secretVersionValue } from './secrets';
import type { RegistryCredentials } from '../registry/manifest-digest';
import type { StoredPullCredentials } from '../store/registries';

const pullSecretIdOf = (registry: string) => `${secretIdOf(registry)}/pull`;

/** Keeps the password as the registry's; what its item records. */
export async function keepPullCredentials(registry: string, credentials: RegistryCredentials): Promise<StoredPullCredentials> {
  const secretId = pullSecretIdOf(registry);
  const versionId = await putSecretVersion(secretId, credentials.password, `fleet-rollout: the pull password of registry ${registry} (digest look-ups)`);
  return { username: credentials.username, secret_id: secretId, version_id: versionId };
}

/** The credentials to sign in with, password read from where it is kept. */
export async function pullCredentialsOf(stored: StoredPullCredentials): Promise<RegistryCredentials> {
  return { username: stored.username, password: await secretVersionValue(stored.secret_id, stored.version_id) };
}

export async function discardPullCredentials(stored: StoredPullCredentials): Promise<void> {
  await deleteSecret(stored.secret_id);
}
