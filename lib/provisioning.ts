/**
 * Provisioning keys: an admin creates one (limited in uses and time if wished) and hands it to
 * devices, which register themselves with it (`POST /devices/provision`) and get their own token.
 *
 * A key holder can register new devices, never take over a registered one: provisioning a uuid
 * that exists is a 409 and issues no token, even for the key that registered it. The token is
 * shown once, so an agent must persist it before using it; a retry after losing it is recognised
 * (the device records which key registered it) and told so.
 */
import { ulid } from 'ulid';
import { z } from 'zod';
import { registerDevice, type DeviceRegistration } from './devices';
import { Conflict, Forbidden, Invalid, NotFound, Unauthorized } from './errors';
import { constantTimeEqual, newProvisioningKey, provisioningKeyIdOf, sha256Hex } from './secrets';
import { getStoredDevice } from './store/devices';
import {
  consumeUse,
  getProvisioningKey,
  listProvisioningKeys,
  putProvisioningKey,
  refundUse,
  revokeProvisioningKey as storeRevoke,
  type StoredProvisioningKey,
} from './store/provisioning-keys';

export const provisioningKeySchema = z.strictObject({
  name: z.string().min(1).max(128).nullable().optional(),
  expires_at: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time such as 2030-01-01T00:00:00Z' }).optional(),
  max_uses: z.number().int().min(1).max(1_000_000).optional(),
});
export type ProvisioningKeyInput = z.infer<typeof provisioningKeySchema>;

/** A provisioning key as answers show it: never the key itself, which only its creation answers. */
export const provisioningKeyViewSchema = z.object({
  id: z.string(),
  name: z.string().nullable(),
  expires_at: z.string().nullable(),
  max_uses: z.number().int().nullable(),
  uses: z.number().int(),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
});
export type ProvisioningKeyView = z.infer<typeof provisioningKeyViewSchema>;
export const createdProvisioningKeySchema = z.object({ provisioning_key: provisioningKeyViewSchema, key: z.string() });
export const provisioningKeyListSchema = z.object({ provisioning_keys: z.array(provisioningKeyViewSchema), next_cursor: z.string().nullable() });

export function provisioningKeyView(key: StoredProvisioningKey): ProvisioningKeyView {
  return {
    id: key.id,
    name: key.name,
    expires_at: key.key_expires_at ?? null,
    max_uses: key.max_uses ?? null,
    uses: key.uses,
    created_at: key.created_at,
    revoked_at: key.revoked_at ?? null,
  };
}

/** Creates a key; the key itself is in this answer only. */
export async function createProvisioningKey(input: ProvisioningKeyInput, now: Date) {
  const expiresAt = input.expires_at === undefined ? undefined : new Date(input.expires_at);
  if (expiresAt && expiresAt.getTime() <= now.getTime()) throw new Invalid(`expires_at must be in the future, got ${input.expires_at}`);
  const id = `pvk_${ulid(now.getTime()).toLowerCase()}`;
  const key = newProvisioningKey(id);
  const record: StoredProvisioningKey = {
    id,
    name: input.name ?? null,
    key_hash: sha256Hex(key),
    ...(expiresAt ? { key_expires_at: expiresAt.toISOString() } : {}),
    ...(input.max_uses !== undefined ? { max_uses: input.max_uses } : {}),
    uses: 0,
    created_at: now.toISOString(),
  };
  await putProvisioningKey(record);
  return { provisioning_key: provisioningKeyView(record), key };
}

export async function pageOfProvisioningKeys(limit: number, cursor?: string) {
  const page = await listProvisioningKeys(limit, cursor);
  return { items: page.items.map(provisioningKeyView), next_cursor: page.next_cursor };
}

export async function revokeProvisioningKey(id: string, now: Date): Promise<void> {
  if (!(await storeRevoke(id, now.toISOString()))) throw new NotFound(`provisioning key ${id} not found`);
}

/** Why a key cannot provision now: 401 when it is no (longer a) credential, 403 when it is used up. */
function refusal(key: StoredProvisioningKey, now: Date): Error | undefined {
  if (key.revoked_at) return new Unauthorized(`provisioning key ${key.id} was revoked at ${key.revoked_at}`);
  if (key.key_expires_at && key.key_expires_at <= now.toISOString()) return new Unauthorized(`provisioning key ${key.id} expired at ${key.key_expires_at}`);
  if (key.max_uses !== undefined && key.uses >= key.max_uses) return new Forbidden(`provisioning key ${key.id} is used up: all ${key.max_uses} of its uses are spent`);
  return undefined;
}

export interface ProvisioningCredential {
  id: string;
  hash: string;
}

/** The provisioning key a bearer token is, if it is one that may provision now; throws otherwise. */
export async function authenticateProvisioningKey(token: string, now: Date): Promise<ProvisioningCredential> {
  const id = provisioningKeyIdOf(token);
  if (!id) throw new Unauthorized('this route takes a provisioning key ("Bearer fpk_…")');
  const hash = sha256Hex(token);
  const key = await getProvisioningKey(id, true);
  if (!key || !constantTimeEqual(key.key_hash, hash)) throw new Unauthorized('unknown provisioning key');
  const refused = refusal(key, now);
  if (refused) throw refused;
  return { id, hash };
}

/** Registers a device with a provisioning key, counting one of the key's uses. */
export async function provisionDevice(credential: ProvisioningCredential, input: DeviceRegistration, now: Date) {
  if (input.uuid) {
    const existing = await getStoredDevice(input.uuid, true);
    if (existing) throw alreadyRegistered(input.uuid, existing.provisioned_by === credential.id);
  }
  if (!(await consumeUse(credential.id, credential.hash, now.toISOString()))) {
    const key = await getProvisioningKey(credential.id, true);
    throw (key && refusal(key, now)) ?? new Unauthorized('unknown provisioning key');
  }
  try {
    return await registerDevice(input, now, credential.id);
  } catch (error) {
    await refundUse(credential.id);
    // Another request registered the uuid between the check above and this one.
    if (error instanceof Conflict && input.uuid) throw alreadyRegistered(input.uuid, false);
    throw error;
  }
}

function alreadyRegistered(uuid: string, byThisKey: boolean): Conflict {
  if (!byThisKey) return new Conflict(`device ${uuid} is already registered`);
  return new Conflict(
    `device ${uuid} is already registered, by this provisioning key: its token was issued once, when it was registered, and is never issued again; an agent must persist its token before using it`,
  );
}
