/**
 * Secrets the functions need at run time. On AWS they live in Secrets Manager (the stack passes
 * their ARNs, never their values); on the embedded host the values come in the environment. A
 * value read from Secrets Manager is kept for a few minutes, so a rotated secret takes effect
 * without a deploy and a warm function does not call Secrets Manager per request.
 */
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { secretsManager } from './aws-clients';
import { config } from './config';
import { sha256Hex } from './secrets';

const cacheMs = 5 * 60_000;
const cache = new Map<string, { value: string; until: number }>();

async function secretValue(arn: string): Promise<string> {
  const hit = cache.get(arn);
  if (hit && hit.until > Date.now()) return hit.value;
  const { SecretString } = await secretsManager().send(new GetSecretValueCommand({ SecretId: arn }));
  const value = SecretString ?? '';
  cache.set(arn, { value, until: Date.now() + cacheMs });
  return value;
}

/** The secret registries present; empty (every webhook refused) when none is configured. */
export async function webhookSecret(): Promise<string> {
  const { webhookSecret: value, webhookSecretArn } = config();
  if (value) return value;
  return webhookSecretArn ? secretValue(webhookSecretArn) : '';
}

/** SHA-256 of the deployment's first admin key, kept in Secrets Manager so that a new stack can be used at once. */
export async function bootstrapAdminKeyHash(): Promise<string | undefined> {
  const arn = config().adminKeySecretArn;
  if (!arn) return undefined;
  const value = await secretValue(arn);
  return value ? sha256Hex(value) : undefined;
}
