/**
 * Registries as configuration: the admin API's `/api/v1/registries`. Each configured registry
 * has a name (its webhook URL is `/api/v1/webhooks/<name>`), a kind (which payload it sends and
 * how it authenticates), a secret of its own, host aliases and a rate limit; kinds whose
 * webhooks name no digest (Docker Hub, Quay) also an API URL and pull credentials for the digest
 * look-up, whose password, like the secret, no read ever shows. The secret is in the
 * answer to the create and to a rotation only, never in a read: it is kept as lib/registries/
 * secrets.ts decides (its SHA-256, or in Secrets Manager for HMAC kinds).
 *
 * `host_aliases` is a map from host to host rather than a list of `{from, to}` pairs: each host
 * has at most one alias by construction (a list would need a rule for two entries with one
 * `from`), matching is by the whole host so order never matters, and a map reads as it applies.
 */
import { z } from 'zod';
import type { AdminPrincipal } from '../admin-keys';
import { parseManifestApiUrl } from '../config';
import { defaultRatePerMinute, maxRatePerMinute } from '../domain/rate-limit';
import { Conflict, Invalid, NotFound } from '../errors';
import { eventKinds, isWebhookKind, registryKinds, webhookOf, type RegistryKind } from '../registry';
import { isRegistryHost, maxHostAliases, normaliseHostAliases } from '../registry/host-aliases';
import { deleteRegistry, getRegistry, listRegistries, putRegistry, updateRegistry, type RegistryChange, type StoredRegistry } from '../store/registries';
import { defaultRegistries, defaultRegistry, forgetKnownRegistries, isDefaultRegistry } from './known';
import { discardPullCredentials, keepPullCredentials } from './pull-credentials';
import { digestLookupKinds, looksUpDigests } from './push-digests';
import { keepingFor, keepingOf, newWebhookSecret } from './secrets';

const namePattern = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

const nameField = z
  .string()
  .regex(namePattern, 'must be 1-63 lower-case letters, digits and dashes, starting and ending with a letter or digit (it is the last part of the webhook URL)');

const secretField = z
  .string()
  .regex(/^[\x21-\x7e]{16,256}$/, 'must be 16 to 256 printable ASCII characters without spaces (leave it out to have a strong one generated)');

const hostField = z.string().refine(isRegistryHost, 'must be a registry host with an optional port, such as registry.example.com:5000');

const hostAliasesField = z
  .record(z.string(), z.string())
  .superRefine((aliases, context) => {
    const entries = Object.entries(aliases);
    if (entries.length > maxHostAliases) context.addIssue({ code: 'custom', message: `must have at most ${maxHostAliases} entries` });
    const seen = new Set<string>();
    for (const [from, to] of entries) {
      if (!isRegistryHost(from)) context.addIssue({ code: 'custom', path: [from], message: 'is not a registry host (the key is the host as the registry reports it, such as localhost:5000)' });
      else if (seen.has(from.toLowerCase())) context.addIssue({ code: 'custom', path: [from], message: 'names a host another key names already (hosts are case-insensitive)' });
      if (!isRegistryHost(to)) context.addIssue({ code: 'custom', path: [from], message: 'must be a registry host with an optional port, such as registry.lan:5000' });
      seen.add(from.toLowerCase());
    }
  });

const rateLimitField = z.number().int().min(1).max(maxRatePerMinute);

/** A registry API base URL (OCI distribution spec, without `/v2`), normalised as lib/config.ts does the deployment's. */
const apiUrlField = z.string().transform((raw, context) => {
  try {
    const url = raw.trim().toLowerCase() === 'off' ? null : parseManifestApiUrl(raw);
    if (url !== null) return url;
    context.addIssue({ code: 'custom', message: 'must be an http(s) URL of a registry API, such as https://registry.example.com (leave it out for the one the kind implies)' });
  } catch (error) {
    context.addIssue({ code: 'custom', message: `must be an http(s) URL of a registry API, such as https://registry.example.com: ${(error as Error).message}` });
  }
  return z.NEVER;
});

const printable = /^[^\x00-\x1f\x7f]+$/;
const pullCredentialsField = z.strictObject({
  username: z.string().min(1).max(256).regex(printable, 'must have no control characters').refine((name) => !name.includes(':'), 'must not contain ":" (it is sent in HTTP Basic authentication)'),
  /** Or an access token the registry takes in its place. Write-only. */
  password: z.string().min(1).max(4096).regex(printable, 'must have no control characters'),
});

/** The body of `POST /api/v1/registries`. */
export const registryInputSchema = z.strictObject({
  name: nameField,
  kind: z.enum(registryKinds as [RegistryKind, ...RegistryKind[]], { message: `must be one of ${registryKinds.join(', ')}` }),
  /** Given: used as is. Absent: a strong one is generated. ECR registries take none. */
  secret: secretField.optional(),
  /** The registry's host: for kinds whose payload names none, and to tell ECR accounts apart. */
  host: hostField.optional(),
  host_aliases: hostAliasesField.default({}),
  rate_limit_per_minute: rateLimitField.default(defaultRatePerMinute),
  /** Where digests are looked up when not where the kind implies (kinds that look digests up only). */
  api_url: apiUrlField.optional(),
  /** What the look-up signs in with, for private repositories (kinds that look digests up only). */
  pull_credentials: pullCredentialsField.optional(),
});
export type RegistryInput = z.infer<typeof registryInputSchema>;

/** The body of `PATCH /api/v1/registries/{name}`: what it names changes, the rest stays. */
export const registryPatchSchema = z.strictObject({
  /** null: the registry names no host any more. */
  host: hostField.nullable().optional(),
  /** Replaces the aliases as a whole; `{}` removes them all. */
  host_aliases: hostAliasesField.optional(),
  rate_limit_per_minute: rateLimitField.optional(),
  /** A new secret, given … */
  secret: secretField.optional(),
  /** … or generated: `true`. Either way the answer carries it, this once. */
  rotate_secret: z.literal(true, { message: 'must be true (leave it out to keep the secret)' }).optional(),
  /** null: digests are looked up where the kind implies. */
  api_url: apiUrlField.nullable().optional(),
  /** New credentials, replacing the old as a whole; null removes them. */
  pull_credentials: pullCredentialsField.nullable().optional(),
});
export type RegistryPatch = z.infer<typeof registryPatchSchema>;

const principalSchema = z.object({ key_id: z.string(), name: z.string() });

/** A registry as every answer shows it: never its secret. */
export const registryViewSchema = z.object({
  name: z.string(),
  kind: z.string(),
  /** `configured` through this API, or one of the `default` registries that need no creating. */
  source: z.enum(['configured', 'default']),
  /** Where the registry sends its webhooks: absolute where the request named the API's host. Null for ECR, which sends none. */
  webhook_url: z.string().nullable(),
  host: z.string().nullable(),
  host_aliases: z.record(z.string(), z.string()),
  rate_limit_per_minute: z.number().int(),
  /** `sha256` (only its hash is stored), `secrets_manager` (kept as it is, for an HMAC), `global` (the deployment's webhook secret), or null (ECR). */
  secret_kept_as: z.enum(['sha256', 'secrets_manager', 'global']).nullable(),
  secret_rotated_at: z.string().nullable(),
  /** Where digests of pushes that name none are looked up, when not where the kind implies. */
  api_url: z.string().nullable(),
  /** Who the digest look-up signs in as; the password is never shown. */
  pull_credentials: z.object({ username: z.string() }).nullable(),
  created_at: z.string().nullable(),
  updated_at: z.string().nullable(),
  created_by: principalSchema.nullable(),
});
export type RegistryView = z.infer<typeof registryViewSchema>;

export const registryResponseSchema = z.object({ registry: registryViewSchema });
/** `201` of a create and `200` of a change: `secret` when the change set one, this once. */
export const registryWithSecretSchema = z.object({ registry: registryViewSchema, secret: z.string().optional() });
export const registryListSchema = z.object({
  registries: z.array(registryViewSchema),
  /** The default registries no configured registry has replaced; on the first page only. */
  defaults: z.array(registryViewSchema),
  next_cursor: z.string().nullable(),
});

/** Absolute where the request named the API's host, else the path; none for kinds that send no webhooks. */
function webhookUrl(name: string, kind: string, baseUrl: string | undefined): string | null {
  return isWebhookKind(kind) ? `${baseUrl ?? ''}/api/v1/webhooks/${encodeURIComponent(name)}` : null;
}

export function registryView(stored: StoredRegistry, baseUrl: string | undefined): RegistryView {
  return {
    name: stored.name,
    kind: stored.kind,
    source: 'configured',
    webhook_url: webhookUrl(stored.name, stored.kind, baseUrl),
    host: stored.host ?? null,
    host_aliases: stored.host_aliases ?? {},
    rate_limit_per_minute: stored.rate_limit_per_minute,
    secret_kept_as: stored.secret ? keepingOf(stored.secret).name : null,
    secret_rotated_at: stored.secret_rotated_at ?? null,
    api_url: stored.api_url ?? null,
    pull_credentials: stored.pull_credentials ? { username: stored.pull_credentials.username } : null,
    created_at: stored.created_at,
    updated_at: stored.updated_at,
    created_by: stored.created_by,
  };
}

function defaultView(name: string, baseUrl: string | undefined): RegistryView {
  const registry = defaultRegistry(name)!;
  return {
    name,
    kind: registry.kind,
    source: 'default',
    webhook_url: webhookUrl(name, registry.kind, baseUrl),
    host: null,
    host_aliases: {},
    rate_limit_per_minute: registry.rate_limit_per_minute,
    secret_kept_as: 'global',
    secret_rotated_at: null,
    api_url: null,
    pull_credentials: null,
    created_at: null,
    updated_at: null,
    created_by: null,
  };
}

const isEventKind = (kind: string) => (eventKinds as readonly string[]).includes(kind);

/** api_url and pull_credentials are for kinds whose webhooks name no digest: nothing else would use them. */
function checkLookupFields(kind: string, given: { api_url?: unknown; pull_credentials?: unknown }): void {
  if (looksUpDigests(kind)) return;
  for (const field of ['api_url', 'pull_credentials'] as const) {
    if (given[field] !== undefined && given[field] !== null) {
      throw new Invalid(`${field}: a registry of kind ${kind} names the digest of each push itself, so nothing is looked up in its API (only ${digestLookupKinds.join(' and ')} registries take ${field})`);
    }
  }
}

export async function createRegistry(input: RegistryInput, by: AdminPrincipal, now: Date, baseUrl: string | undefined) {
  if (isEventKind(input.kind) && input.secret !== undefined) {
    throw new Invalid(`secret: a registry of kind ${input.kind} takes no secret (its pushes arrive as AWS events, not webhooks)`);
  }
  checkLookupFields(input.kind, input);
  // Checked before a secret is kept anywhere; the conditional put below settles a race.
  const taken = () => new Conflict(`a registry named "${input.name}" exists; choose another name, or change it with PATCH /api/v1/registries/${input.name}`);
  if (await getRegistry(input.name)) throw taken();
  const at = now.toISOString();
  const secret = isWebhookKind(input.kind) ? (input.secret ?? newWebhookSecret()) : undefined;
  const record: StoredRegistry = {
    name: input.name,
    kind: input.kind,
    ...(input.host ? { host: input.host.toLowerCase() } : {}),
    host_aliases: normaliseHostAliases(input.host_aliases),
    rate_limit_per_minute: input.rate_limit_per_minute,
    ...(secret !== undefined && isWebhookKind(input.kind) ? { secret: await keepingFor(webhookOf(input.kind)).keep(input.name, secret) } : {}),
    ...(input.api_url ? { api_url: input.api_url } : {}),
    ...(input.pull_credentials ? { pull_credentials: await keepPullCredentials(input.name, input.pull_credentials) } : {}),
    created_at: at,
    updated_at: at,
    created_by: { key_id: by.key_id, name: by.name },
    version: 1,
  };
  if (!(await putRegistry(record))) throw taken();
  forgetKnownRegistries();
  return { registry: registryView(record, baseUrl), ...(secret !== undefined ? { secret } : {}) };
}

export async function pageOfRegistries(limit: number, cursor: string | undefined, baseUrl: string | undefined) {
  const page = await listRegistries(limit, cursor);
  // The defaults go with the first page; a configured registry of a default's name replaces it.
  const defaults = cursor
    ? []
    : await Promise.all(Object.keys(defaultRegistries).map(async (name) => ((await getRegistry(name)) ? undefined : defaultView(name, baseUrl)))).then((views) => views.filter((v) => v !== undefined));
  return { registries: page.items.map((stored) => registryView(stored, baseUrl)), defaults, next_cursor: page.next_cursor };
}

export async function readRegistry(name: string, baseUrl: string | undefined) {
  const stored = await getRegistry(name);
  if (stored) return { registry: registryView(stored, baseUrl) };
  if (isDefaultRegistry(name)) return { registry: defaultView(name, baseUrl) };
  throw new NotFound(`registry ${name} not found`);
}

function notConfigured(name: string): NotFound {
  return isDefaultRegistry(name)
    ? new NotFound(`registry ${name} is a default registry (it takes the deployment's webhook secret) and cannot be changed; create a registry named ${name} to configure it`)
    : new NotFound(`registry ${name} not found`);
}

export async function changeRegistry(name: string, patch: RegistryPatch, now: Date, baseUrl: string | undefined) {
  if (patch.secret !== undefined && patch.rotate_secret) throw new Invalid('secret and rotate_secret: give a new secret or ask for one to be generated, not both');
  const stored = await getRegistry(name);
  if (!stored) throw notConfigured(name);
  checkLookupFields(stored.kind, patch);
  const rotating = patch.secret !== undefined || patch.rotate_secret === true;
  if (rotating && !isWebhookKind(stored.kind)) {
    throw new Invalid(`${patch.secret !== undefined ? 'secret' : 'rotate_secret'}: a registry of kind ${stored.kind} has no secret (its pushes arrive as AWS events, not webhooks)`);
  }
  const at = now.toISOString();
  const secret = rotating ? (patch.secret ?? newWebhookSecret()) : undefined;
  const remove = (['host', 'api_url', 'pull_credentials'] as const).filter((field) => patch[field] === null);
  const change: RegistryChange = {
    updated_at: at,
    ...(patch.host ? { host: patch.host.toLowerCase() } : {}),
    ...(patch.api_url ? { api_url: patch.api_url } : {}),
    ...(patch.pull_credentials ? { pull_credentials: await keepPullCredentials(name, patch.pull_credentials) } : {}),
    ...(remove.length > 0 ? { remove } : {}),
    ...(patch.host_aliases !== undefined ? { host_aliases: normaliseHostAliases(patch.host_aliases) } : {}),
    ...(patch.rate_limit_per_minute !== undefined ? { rate_limit_per_minute: patch.rate_limit_per_minute } : {}),
    ...(secret !== undefined && isWebhookKind(stored.kind) ? { secret: await keepingFor(webhookOf(stored.kind)).keep(name, secret), secret_rotated_at: at } : {}),
  };
  const updated = await updateRegistry(name, stored.version, change);
  if (!updated) {
    if (!(await getRegistry(name))) throw new NotFound(`registry ${name} not found`);
    throw new Conflict(`registry ${name} was changed by another request at the same time; read it again and retry`);
  }
  forgetKnownRegistries();
  // Once the item no longer names it. An instance whose copy of the registry is older (15 s at
  // most) and holds no cached password says so in `digest_unresolved` and rolls out by tag.
  if (patch.pull_credentials === null && stored.pull_credentials) await discardPullCredentials(stored.pull_credentials);
  return { registry: registryView(updated, baseUrl), ...(secret !== undefined ? { secret } : {}) };
}

/** Deletes the registry, its secret and its pull credentials: its webhook URL answers 404 from then on (within the intake's cache time on other instances). */
export async function removeRegistry(name: string): Promise<void> {
  const deleted = await deleteRegistry(name);
  if (!deleted) throw notConfigured(name);
  forgetKnownRegistries();
  if (deleted.secret) await keepingOf(deleted.secret).discard(name, deleted.secret);
  if (deleted.pull_credentials) await discardPullCredentials(deleted.pull_credentials);
}
