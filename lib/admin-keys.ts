/**
 * Admin keys and who holds them. Every admin request is made by a principal: a named key an
 * admin made through the API (`ak_…`, one per person or tool, revocable at once), or the
 * deployment's configured key (`bootstrap` on AWS, from Secrets Manager; `host` on the embedded
 * host), which is changed where it is configured and cannot be revoked here. Named keys are
 * listed, revoked ones too (with `revoked_at`), so that what a principal did stays attributable;
 * configured keys are not listed.
 */
import { ulid } from 'ulid';
import { z } from 'zod';
import { Conflict, NotFound, Unauthorized } from './errors';
import { bootstrapAdminKeyHash } from './secret-values';
import { adminKeyIdOf, constantTimeEqual, newNamedAdminKey, sha256Hex } from './secrets';
import {
  claimName,
  getConfiguredAdminKey,
  getNameClaim,
  getNamedAdminKey,
  hostKeyId,
  listNamedAdminKeys,
  putNamedAdminKey,
  releaseName,
  revokeNamedAdminKey,
  type StoredAdminKey,
} from './store/admin-keys';

/** Who makes an admin request: the key's id and the name it was given. */
export interface AdminPrincipal {
  key_id: string;
  name: string;
}

export const bootstrapPrincipal: AdminPrincipal = { key_id: 'bootstrap', name: 'bootstrap' };

/** The configured keys' ids, and where each is changed instead of revoked. */
const configuredKeys: Record<string, string> = {
  [bootstrapPrincipal.key_id]: "the bootstrap admin key comes from the stack's Secrets Manager secret (ADMIN_API_KEY_SECRET_ARN): put a new value there to change it",
  [hostKeyId]: "the embedded host's admin key is its configuration (its data directory's admin-api-key file, or the adminApiKey it was started with): change it there",
};

/**
 * Letters and digits, with spaces, `.`, `_`, `@`, `+` and `-` inside: a person's or a tool's name
 * (`alice@example.com`, `ci deploy`), never one that differs from another by blanks at its ends.
 */
const namePattern = /^[\p{L}\p{N}](?:[\p{L}\p{N} ._@+-]{0,62}[\p{L}\p{N}._@+-])?$/u;

export const adminKeySchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(64)
    .regex(namePattern, 'must be 1-64 letters or digits, with spaces, ".", "_", "@", "+" or "-" between them'),
});
export type AdminKeyInput = z.infer<typeof adminKeySchema>;

const principalSchema = z.object({ key_id: z.string(), name: z.string() });

/** A named admin key as answers show it: never the key nor its hash, which only its creation answer holds (the key). */
export const adminKeyViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  created_at: z.string(),
  /** The principal that made it. */
  created_by: principalSchema,
  revoked_at: z.string().nullable(),
  revoked_by: principalSchema.nullable(),
});
export type AdminKeyView = z.infer<typeof adminKeyViewSchema>;
export const createdAdminKeySchema = z.object({ admin_key: adminKeyViewSchema, key: z.string() });
export const adminKeyListSchema = z.object({ admin_keys: z.array(adminKeyViewSchema), next_cursor: z.string().nullable() });

export function adminKeyView(key: StoredAdminKey): AdminKeyView {
  return {
    id: key.id,
    name: key.name,
    created_at: key.created_at,
    created_by: key.created_by,
    revoked_at: key.revoked_at ?? null,
    revoked_by: key.revoked_by ?? null,
  };
}

/** Names reserved for the configured keys' principals, so that a name always says which kind of key acted. */
export function isReservedName(name: string): boolean {
  return Object.hasOwn(configuredKeys, name.normalize('NFC').toLowerCase());
}

/**
 * A name claim whose key was never written (the request that claimed it crashed, or its write
 * failed) is taken over after this long; a create still under way finishes well within it.
 */
export const staleClaimMs = 60_000;

/** Creates a named key; the key itself is in this answer only. */
export async function createAdminKey(input: AdminKeyInput, by: AdminPrincipal, now: Date) {
  const name = input.name.normalize('NFC');
  if (isReservedName(name)) throw new Conflict(`the name "${name}" is reserved for the deployment's configured admin key`);
  const id = `ak_${ulid(now.getTime()).toLowerCase()}`;
  const at = now.toISOString();
  await claimNameFor(name, id, now);
  const key = newNamedAdminKey(id);
  const record: StoredAdminKey = { id, name, key_hash: sha256Hex(key), created_at: at, created_by: { key_id: by.key_id, name: by.name } };
  try {
    await putNamedAdminKey(record);
  } catch (error) {
    await releaseName(name, id);
    throw error;
  }
  return { admin_key: adminKeyView(record), key };
}

/** Claims the name for `id`, taking over a claim whose key is revoked or never came; 409 when an unrevoked key holds it. */
async function claimNameFor(name: string, id: string, now: Date): Promise<void> {
  const at = now.toISOString();
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await claimName(name, id, at)) return;
    const claim = await getNameClaim(name);
    if (!claim) continue; // released meanwhile
    const holder = await getNamedAdminKey(claim.key_id);
    if (holder && !holder.revoked_at) throw new Conflict(`an admin key named "${holder.name}" exists: ${holder.id}; revoke it first, or choose another name`);
    if (!holder && now.getTime() - Date.parse(claim.claimed_at) < staleClaimMs) {
      throw new Conflict(`an admin key named "${name}" is being created (${claim.key_id}); try again in a minute if it does not appear`);
    }
    // Its key was revoked (and the claim not yet released) or never written: the name is free.
    if (await claimName(name, id, at, claim.key_id)) return;
  }
  throw new Conflict(`the name "${name}" is being claimed by another request at the same time; try again`);
}

export async function pageOfAdminKeys(limit: number, cursor?: string) {
  const page = await listNamedAdminKeys(limit, cursor);
  return { items: page.items.map(adminKeyView), next_cursor: page.next_cursor };
}

/**
 * Revokes a named key: the next request with it is refused. Revoking a revoked key changes
 * nothing (and releases its name, if a crash kept it). The configured keys are refused with 409.
 */
export async function revokeAdminKey(id: string, by: AdminPrincipal, now: Date): Promise<void> {
  if (Object.hasOwn(configuredKeys, id)) throw new Conflict(`admin key ${id} cannot be revoked through the API: ${configuredKeys[id]}`);
  const key = id.startsWith('ak_') ? await revokeNamedAdminKey(id, now.toISOString(), { key_id: by.key_id, name: by.name }) : undefined;
  if (!key) throw new NotFound(`admin key ${id} not found`);
  await releaseName(key.name, key.id);
}

/** The principal an admin key is, or undefined when the token is no (longer an) admin key. */
export async function adminPrincipalOf(token: string): Promise<AdminPrincipal | undefined> {
  const hash = sha256Hex(token);
  const bootstrap = await bootstrapAdminKeyHash();
  if (bootstrap && constantTimeEqual(bootstrap, hash)) return bootstrapPrincipal;
  const id = adminKeyIdOf(token);
  if (id) {
    const key = await getNamedAdminKey(id);
    return key && !key.revoked_at && constantTimeEqual(key.key_hash, hash) ? { key_id: key.id, name: key.name } : undefined;
  }
  return getConfiguredAdminKey(hash);
}

export async function isAdminKey(token: string): Promise<boolean> {
  return (await adminPrincipalOf(token)) !== undefined;
}

/** The principal a bearer token is; 401 when it is none. */
export async function authenticateAdmin(token: string): Promise<AdminPrincipal> {
  const principal = await adminPrincipalOf(token);
  if (!principal) throw new Unauthorized('invalid credentials');
  return principal;
}
