/**
 * Every operation of the HTTP API, keyed `METHOD /path` exactly as infra/manifest.ts declares its
 * routes, with the zod schemas its handler validates requests with and its views answer with.
 * lib/http/openapi/document.ts turns this into the OpenAPI document; test/unit/openapi.test.ts
 * holds the keys and each `auth` to the manifest, since lib/ imports nothing from infra/.
 *
 * Only routes under /api/ are operations: pages the hosts serve to browsers (a dashboard's HTML
 * and scripts) are not part of the API and are left out of its document.
 */
import { z } from 'zod';
import { deviceStatuses } from '../../domain/device-status';
import { rolloutStatuses } from '../../domain/types';
import { adminKeyListSchema, adminKeySchema, createdAdminKeySchema } from '../../admin-keys';
import {
  deviceListSchema,
  devicePatchSchema,
  deviceRegistrationSchema,
  appContainerSchema,
  currentStateResponseSchema,
  deviceResponseSchema,
  deviceTokenSchema,
  registeredDeviceSchema,
  stateReportSchema,
  targetStateSchema,
} from '../../devices';
import {
  createdSubscriptionSchema,
  subscriptionInputSchema,
  subscriptionListSchema,
  subscriptionResponseSchema,
} from '../../notifications/subscriptions';
import { policyInputSchema, policyListSchema, policyResponseSchema } from '../../policies';
import { createdProvisioningKeySchema, provisioningKeyListSchema, provisioningKeySchema } from '../../provisioning';
import { distributionEnvelopeSchema, EVENTS_MEDIA_TYPES } from '../../registry/distribution';
import { dockerHubPayloadSchema } from '../../registry/docker-hub';
import { registryInputSchema, registryListSchema, registryPatchSchema, registryResponseSchema, registryWithSecretSchema } from '../../registries/registries';
import { webhookAcceptedSchema } from '../../rollouts/create-rollouts';
import { controlReasonSchema, deviceRollbackResultSchema, rollbackAllResultSchema, approvalBodySchema, promoteBodySchema, rolloutResponseSchema, startBodySchema, startRequestedSchema } from '../../rollouts/control';
import { rolloutDetailSchema, rolloutDevicesByBatchSchema, rolloutEventsPageSchema, rolloutListSchema } from '../../rollouts/views';

/** Who may call an operation: the rule names of infra/route-auth.ts. */
export type Caller = 'admin' | 'device' | 'provisioningKey' | 'webhookSecret' | 'public';

export const tags = {
  webhooks: 'Registry push notifications, which create rollouts',
  registries: 'The registries that send pushes: each with its webhook URL, secret, host aliases and rate limit',
  policies: 'Update policies: which pushes roll out, and how',
  devices: 'Registering and reading devices, and their container settings',
  'provisioning-keys': 'Keys that let devices register themselves',
  'admin-keys': 'Named admin keys, one per person or tool, so that what an admin does says who did it',
  'device-protocol': "What a device's agent calls: provisioning, target state, current state",
  rollouts: 'Watching and steering rollouts',
  notifications: 'Subscriptions to rollout events',
  meta: 'This document',
} as const;
export type Tag = keyof typeof tags;

/** A schema with the name it has under `components.schemas`. */
export interface Named {
  name: string;
  schema: z.ZodType;
}
const named = (name: string, schema: z.ZodType): Named => ({ name, schema });

export interface QueryParameter {
  name: string;
  description: string;
  schema: Record<string, unknown>;
}

export interface Answer {
  description: string;
  /** JSON body; none for 204 and 304. */
  body?: Named;
  headers?: Record<string, string>;
}

export interface Operation {
  summary: string;
  tag: Tag;
  auth: Caller;
  /** The JSON body the handler validates; its media types when not just application/json. */
  body?: Named | Named[];
  mediaTypes?: readonly string[];
  query?: QueryParameter[];
  pathParameters?: Record<string, string>;
  /** The answers to a request that was let through; the errors follow from the rest (document.ts). */
  answers: Record<number, Answer>;
  /** It can refuse with 409: a state that does not allow it, or an id already taken. */
  conflicts?: string;
  /** It can refuse with 429 and `Retry-After`: what is limited. */
  rateLimited?: string;
}

/** What `GET /api/v1/openapi.json` answers, in as much detail as a client relies on. */
const openApiDocumentSchema = z.looseObject({
  openapi: z.string(),
  info: z.looseObject({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.unknown()),
});

/** `limit` and `cursor` (lib/http/api.ts `pageParams`), with the route's bounds. */
export function pageParameters(defaultLimit = 50, maxLimit = 200): QueryParameter[] {
  return [
    { name: 'limit', description: `Items per page, 1 to ${maxLimit} (default ${defaultLimit}).`, schema: { type: 'integer', minimum: 1, maximum: maxLimit, default: defaultLimit } },
    { name: 'cursor', description: 'The `next_cursor` of the previous page.', schema: { type: 'string' } },
  ];
}

const policy = named('PolicyResponse', policyResponseSchema);
const device = named('DeviceResponse', deviceResponseSchema);
const registered = named('RegisteredDevice', registeredDeviceSchema);
const rollout = named('RolloutResponse', rolloutResponseSchema);
const subscription = named('SubscriptionResponse', subscriptionResponseSchema);
const reason = named('ControlReason', controlReasonSchema);
const etag = { etag: 'The target version, quoted: send it back as `If-None-Match`.', 'x-poll-interval-seconds': 'Seconds until the next poll.' };

const ids = {
  policyId: 'The policy id (`pol_…`).',
  uuid: 'The device uuid.',
  app: "The app's name on the device.",
  keyId: 'The provisioning key id (`pvk_…`).',
  rolloutId: 'The rollout id (`ro-…`).',
  subscriptionId: 'The subscription id (`sub_…`).',
  registry:
    'The name of the registry that sends it: a configured registry (`/api/v1/registries`), or a default one, `docker-registry` (Docker Hub) or `distribution` (CNCF Distribution), which take the deployment\'s webhook secret.',
  name: 'The registry\'s name (`docker-registry` and `distribution` are the defaults while no configured registry takes their name).',
};
const params = (...names: (keyof typeof ids)[]) => Object.fromEntries(names.map((name) => [name, ids[name]]));

const control = (summary: string, answer: string, body = true): Operation => ({
  summary,
  tag: 'rollouts',
  auth: 'admin',
  ...(body ? { body: reason } : {}),
  pathParameters: params('rolloutId'),
  answers: { 200: { description: answer, body: rollout } },
  conflicts: "the rollout's status does not allow it",
});

export const operations: Record<string, Operation> = {
  'POST /api/v1/webhooks/{registry}': {
    summary: 'A registry reports pushed images; a matching policy makes each a rollout',
    tag: 'webhooks',
    auth: 'webhookSecret',
    body: [named('DockerHubPush', dockerHubPayloadSchema), named('DistributionEnvelope', distributionEnvelopeSchema)],
    mediaTypes: EVENTS_MEDIA_TYPES,
    pathParameters: params('registry'),
    answers: { 202: { description: 'The rollouts the pushes created or found, and what became of each push.', body: named('WebhookAccepted', webhookAcceptedSchema) } },
    rateLimited: "the registry's deliveries, `rate_limit_per_minute` (nothing of the delivery is written)",
  },
  'GET /api/v1/registries': {
    summary: 'List the configured registries, and the defaults none replaces (never a secret)',
    tag: 'registries',
    auth: 'admin',
    query: pageParameters(),
    answers: { 200: { description: 'A page of registries, by name; the defaults on the first page.', body: named('RegistryList', registryListSchema) } },
  },
  'POST /api/v1/registries': {
    summary: 'Configure a registry; its secret (given or generated) is in this answer only',
    tag: 'registries',
    auth: 'admin',
    body: named('RegistryInput', registryInputSchema),
    answers: { 201: { description: 'The registry, its webhook URL, and its secret (none for ECR).', body: named('RegistryWithSecret', registryWithSecretSchema) } },
    conflicts: 'a registry of this name exists',
  },
  'GET /api/v1/registries/{name}': {
    summary: 'Read a registry (never its secret)',
    tag: 'registries',
    auth: 'admin',
    pathParameters: params('name'),
    answers: { 200: { description: 'The registry.', body: named('RegistryResponse', registryResponseSchema) } },
  },
  'PATCH /api/v1/registries/{name}': {
    summary: "Change a registry's host, host aliases, rate limit or digest look-up (api_url, pull_credentials), or rotate its secret (the new one is in this answer only)",
    tag: 'registries',
    auth: 'admin',
    body: named('RegistryPatch', registryPatchSchema),
    pathParameters: params('name'),
    answers: { 200: { description: 'The registry as it is now; `secret` when this change set one.', body: named('RegistryWithSecret', registryWithSecretSchema) } },
    conflicts: 'another request changed the registry at the same time',
  },
  'DELETE /api/v1/registries/{name}': {
    summary: 'Delete a registry and its secret: its webhook URL answers 404 (a default name falls back to the default)',
    tag: 'registries',
    auth: 'admin',
    pathParameters: params('name'),
    answers: { 204: { description: 'Deleted.' } },
  },
  'GET /api/v1/policies': {
    summary: 'List policies',
    tag: 'policies',
    auth: 'admin',
    query: pageParameters(),
    answers: { 200: { description: 'A page of policies.', body: named('PolicyList', policyListSchema) } },
  },
  'POST /api/v1/policies': {
    summary: 'Create a policy',
    tag: 'policies',
    auth: 'admin',
    body: named('PolicyInput', policyInputSchema),
    answers: { 201: { description: 'The policy created.', body: policy } },
  },
  'GET /api/v1/policies/{policyId}': {
    summary: 'Read a policy',
    tag: 'policies',
    auth: 'admin',
    pathParameters: params('policyId'),
    answers: { 200: { description: 'The policy.', body: policy } },
  },
  'PUT /api/v1/policies/{policyId}': {
    summary: "Replace a policy's settings (running rollouts keep theirs)",
    tag: 'policies',
    auth: 'admin',
    body: named('PolicyInput', policyInputSchema),
    pathParameters: params('policyId'),
    answers: { 200: { description: 'The policy as replaced.', body: policy } },
  },
  'DELETE /api/v1/policies/{policyId}': {
    summary: 'Delete a policy',
    tag: 'policies',
    auth: 'admin',
    pathParameters: params('policyId'),
    answers: { 204: { description: 'Deleted.' } },
  },
  'GET /api/v1/devices': {
    summary: 'List devices',
    tag: 'devices',
    auth: 'admin',
    query: [
      {
        name: 'label',
        description:
          'Only devices with this label, as `key:value` (`ring:canary`); repeat it for several, which must all match. The filter is applied to each page as read, so a page may hold fewer devices than `limit`, even none, and still have a `next_cursor`.',
        schema: { type: 'array', items: { type: 'string', pattern: '^[^:]+:.*$' }, maxItems: 32 },
      },
      {
        name: 'status',
        description:
          'Only devices in this status: `offline` (no report for 30 minutes, or none yet), `error` (its last report had one), `updating` (a rollout waits to hear from it) or `online`. Applied to each page as read, like `label`.',
        schema: { type: 'string', enum: [...deviceStatuses] },
      },
      ...pageParameters(),
    ],
    answers: { 200: { description: 'A page of devices.', body: named('DeviceList', deviceListSchema) } },
  },
  'POST /api/v1/devices': {
    summary: 'Register a device; its token is in this answer only',
    tag: 'devices',
    auth: 'admin',
    body: named('DeviceRegistration', deviceRegistrationSchema),
    answers: { 201: { description: 'The device and its token.', body: registered } },
    conflicts: 'a device with this uuid exists',
  },
  'GET /api/v1/devices/{uuid}': {
    summary: 'Read a device: target and current state, active rollouts',
    tag: 'devices',
    auth: 'admin',
    pathParameters: params('uuid'),
    answers: { 200: { description: 'The device.', body: device } },
  },
  'PATCH /api/v1/devices/{uuid}': {
    summary: "Change a device's name, IP address or labels (labels as a JSON merge patch: null removes one)",
    tag: 'devices',
    auth: 'admin',
    body: named('DevicePatch', devicePatchSchema),
    pathParameters: params('uuid'),
    answers: { 200: { description: 'The device as it is now.', body: device } },
  },
  'PUT /api/v1/devices/{uuid}/apps/{app}': {
    summary: "Set or drop an app's container settings; the target version moves when they change",
    tag: 'devices',
    auth: 'admin',
    body: named('AppContainerChange', appContainerSchema),
    pathParameters: params('uuid', 'app'),
    answers: { 200: { description: 'The device as it is now.', body: device } },
  },
  'DELETE /api/v1/devices/{uuid}': {
    summary: 'Delete a device: its token stops working, and rollouts that wait on it skip it',
    tag: 'devices',
    auth: 'admin',
    pathParameters: params('uuid'),
    answers: { 204: { description: 'Deleted (a retry after a failure finishes what is left; 404 once nothing is).' } },
    conflicts: 'the device kept changing while it was being deleted (try again)',
  },
  'POST /api/v1/devices/{uuid}/token': {
    summary: "Rotate a device's token: the old one is refused from now on; the new one is in this answer only",
    tag: 'devices',
    auth: 'admin',
    pathParameters: params('uuid'),
    answers: { 200: { description: 'The new token.', body: named('DeviceToken', deviceTokenSchema) } },
    conflicts: 'another request rotated the token at the same time',
  },
  'GET /api/v1/admin-keys': {
    summary: 'List named admin keys, revoked ones too (never a key or its hash; the configured key is not listed)',
    tag: 'admin-keys',
    auth: 'admin',
    query: pageParameters(),
    answers: { 200: { description: 'A page of admin keys.', body: named('AdminKeyList', adminKeyListSchema) } },
  },
  'POST /api/v1/admin-keys': {
    summary: 'Create a named admin key; the key is in this answer only',
    tag: 'admin-keys',
    auth: 'admin',
    body: named('AdminKeyInput', adminKeySchema),
    answers: { 201: { description: 'The key and its record.', body: named('CreatedAdminKey', createdAdminKeySchema) } },
    conflicts: 'an unrevoked key has this name, or it is reserved (`bootstrap`, `host`)',
  },
  'DELETE /api/v1/admin-keys/{keyId}': {
    summary: 'Revoke a named admin key: the next request with it is refused (it stays listed, with `revoked_at`)',
    tag: 'admin-keys',
    auth: 'admin',
    pathParameters: { keyId: 'The admin key id (`ak_…`).' },
    answers: { 204: { description: 'Revoked.' } },
    conflicts: 'it is the configured key (`bootstrap`, `host`), which is changed where it is configured',
  },
  'GET /api/v1/provisioning-keys': {
    summary: 'List provisioning keys, revoked ones too',
    tag: 'provisioning-keys',
    auth: 'admin',
    query: pageParameters(),
    answers: { 200: { description: 'A page of provisioning keys.', body: named('ProvisioningKeyList', provisioningKeyListSchema) } },
  },
  'POST /api/v1/provisioning-keys': {
    summary: 'Create a provisioning key; the key is in this answer only',
    tag: 'provisioning-keys',
    auth: 'admin',
    body: named('ProvisioningKeyInput', provisioningKeySchema),
    answers: { 201: { description: 'The key and its record.', body: named('CreatedProvisioningKey', createdProvisioningKeySchema) } },
  },
  'DELETE /api/v1/provisioning-keys/{keyId}': {
    summary: 'Revoke a provisioning key (it stays listed, with `revoked_at`)',
    tag: 'provisioning-keys',
    auth: 'admin',
    pathParameters: params('keyId'),
    answers: { 204: { description: 'Revoked.' } },
  },
  'POST /api/v1/devices/provision': {
    summary: 'A device registers itself with a provisioning key; its token is in this answer only',
    tag: 'device-protocol',
    auth: 'provisioningKey',
    body: named('DeviceRegistration', deviceRegistrationSchema),
    answers: { 201: { description: 'The device and its token.', body: registered } },
    conflicts: 'a device with this uuid is registered (its token is never issued again)',
  },
  'GET /api/v1/devices/{uuid}/state': {
    summary: "Poll the device's target state",
    tag: 'device-protocol',
    auth: 'device',
    pathParameters: params('uuid'),
    answers: {
      200: { description: 'The target state.', body: named('TargetState', targetStateSchema), headers: etag },
      304: { description: '`If-None-Match` names the current target state.', headers: etag },
    },
  },
  'PATCH /api/v1/devices/{uuid}/state': {
    summary: "Report the device's current state",
    tag: 'device-protocol',
    auth: 'device',
    body: named('StateReport', stateReportSchema),
    pathParameters: params('uuid'),
    answers: { 200: { description: 'The current state as recorded.', body: named('CurrentStateResponse', currentStateResponseSchema) } },
  },
  'GET /api/v1/rollouts': {
    summary: 'List rollouts, newest first',
    tag: 'rollouts',
    auth: 'admin',
    query: [
      { name: 'status', description: 'Only rollouts in this status.', schema: { type: 'string', enum: [...rolloutStatuses] } },
      { name: 'image_name', description: 'Only rollouts of this repository.', schema: { type: 'string', minLength: 1, maxLength: 512 } },
      ...pageParameters(),
    ],
    answers: { 200: { description: 'A page of rollouts, each with its statistics.', body: named('RolloutList', rolloutListSchema) } },
  },
  'GET /api/v1/rollouts/active': {
    summary: 'Pending, in-progress and paused rollouts, newest first',
    tag: 'rollouts',
    auth: 'admin',
    query: pageParameters().filter((p) => p.name === 'limit'),
    answers: { 200: { description: 'The active rollouts (one page: `next_cursor` is null).', body: named('RolloutList', rolloutListSchema) } },
  },
  'GET /api/v1/rollouts/{rolloutId}': {
    summary: 'A rollout with its batches, first devices, newest events and statistics',
    tag: 'rollouts',
    auth: 'admin',
    pathParameters: params('rolloutId'),
    answers: { 200: { description: 'The rollout.', body: named('RolloutDetail', rolloutDetailSchema) } },
  },
  'GET /api/v1/rollouts/{rolloutId}/devices': {
    summary: "The rollout's devices, grouped by batch",
    tag: 'rollouts',
    auth: 'admin',
    pathParameters: params('rolloutId'),
    query: pageParameters(100, 500),
    answers: { 200: { description: 'A page of devices by batch.', body: named('RolloutDevicesByBatch', rolloutDevicesByBatchSchema) } },
  },
  'GET /api/v1/rollouts/{rolloutId}/events': {
    summary: "The rollout's event log, oldest first",
    tag: 'rollouts',
    auth: 'admin',
    pathParameters: params('rolloutId'),
    query: pageParameters(100, 500),
    answers: { 200: { description: 'A page of events.', body: named('RolloutEventsPage', rolloutEventsPageSchema) } },
  },
  'POST /api/v1/rollouts/{rolloutId}/start': {
    ...control('Start a manual rollout, now or at `start_at`', 'Started.', false),
    body: named('StartBody', startBodySchema),
    answers: {
      200: { description: 'Started.', body: rollout },
      202: { description: 'Scheduled for `start_at`, or still being planned: it starts once planned and due.', body: named('StartRequested', startRequestedSchema) },
    },
  },
  'POST /api/v1/rollouts/{rolloutId}/pause': control('Pause: stop scheduling devices', 'Paused.'),
  'POST /api/v1/rollouts/{rolloutId}/resume': control('Resume a paused rollout', 'Resumed.', false),
  'POST /api/v1/rollouts/{rolloutId}/promote': {
    ...control('Fast-forward: the remaining batches start now, without delays or windows (`full`: without health checks too)', 'Promoted.'),
    body: named('PromoteBody', promoteBodySchema),
  },
  'POST /api/v1/rollouts/{rolloutId}/approve': {
    ...control('Approve the stage the rollout waits for: its start, or going on after a batch', 'Approved (started or resumed when it was the last approval needed).'),
    body: named('ApprovalBody', approvalBodySchema),
    conflicts: 'the rollout waits for no approval, or this admin key has approved the stage already',
  },
  'POST /api/v1/rollouts/{rolloutId}/reject': {
    ...control('Reject the stage the rollout waits for approval of: it is cancelled', 'Rejected and cancelled.'),
    body: named('ApprovalBody', approvalBodySchema),
    conflicts: 'the rollout waits for no approval',
  },
  'POST /api/v1/rollouts/{rolloutId}/cancel': control("Cancel: devices not yet updated keep their image ('skipped')", 'Cancelled.'),
  'POST /api/v1/rollouts/{rolloutId}/rollback-all': {
    ...control('Put every device back on its previous image, also after completion', 'Rolled back.'),
    answers: { 200: { description: 'Rolled back, or finishing in the background.', body: named('RollbackAllResult', rollbackAllResultSchema) } },
  },
  'POST /api/v1/rollouts/{rolloutId}/devices/{uuid}/rollback': {
    ...control('Put one device back on its previous image', 'Rolled back.'),
    pathParameters: params('rolloutId', 'uuid'),
    answers: { 200: { description: "The device's apps and what became of each.", body: named('DeviceRollbackResult', deviceRollbackResultSchema) } },
  },
  'GET /api/v1/notifications': {
    summary: 'List notification subscriptions',
    tag: 'notifications',
    auth: 'admin',
    query: pageParameters(),
    answers: { 200: { description: 'A page of subscriptions.', body: named('SubscriptionList', subscriptionListSchema) } },
  },
  'POST /api/v1/notifications': {
    summary: 'Subscribe a URL to rollout events; the signing secret is in this answer only',
    tag: 'notifications',
    auth: 'admin',
    body: named('SubscriptionInput', subscriptionInputSchema),
    answers: { 201: { description: 'The subscription and its secret.', body: named('CreatedSubscription', createdSubscriptionSchema) } },
  },
  'GET /api/v1/notifications/{subscriptionId}': {
    summary: 'Read a subscription, with its last delivery',
    tag: 'notifications',
    auth: 'admin',
    pathParameters: params('subscriptionId'),
    answers: { 200: { description: 'The subscription.', body: subscription } },
  },
  'PUT /api/v1/notifications/{subscriptionId}': {
    summary: 'Replace a subscription (an absent `secret` keeps the current one)',
    tag: 'notifications',
    auth: 'admin',
    body: named('SubscriptionInput', subscriptionInputSchema),
    pathParameters: params('subscriptionId'),
    answers: { 200: { description: 'The subscription as replaced.', body: subscription } },
  },
  'GET /api/v1/openapi.json': {
    summary: 'This document',
    tag: 'meta',
    auth: 'public',
    answers: {
      200: { description: 'The OpenAPI 3.1 document of the API.', body: named('OpenApiDocument', openApiDocumentSchema), headers: { etag: 'The document\'s version: send it back as `If-None-Match`.' } },
      304: { description: '`If-None-Match` names this version of the document.', headers: { etag: 'The document\'s version.' } },
    },
  },
  'DELETE /api/v1/notifications/{subscriptionId}': {
    summary: 'Delete a subscription',
    tag: 'notifications',
    auth: 'admin',
    pathParameters: params('subscriptionId'),
    answers: { 204: { description: 'Deleted.' } },
  },
};
