/** Devices: registration (by an admin or with a provisioning key), target state in, current state out. */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { z } from 'zod';
import { now } from './clock';
import { config } from './config';
import { containerSettingsSchema, sameContainerSettings } from './container-settings';
import { deviceStatuses, deviceStatusOf, type DeviceStatus } from './domain/device-status';
import { matchesSelector, maxLabels, mergeLabels, parseLabelFilter, type Labels } from './domain/labels';
import type { Device, ReportedApp } from './domain/types';
import { Conflict, Invalid, NotFound } from './errors';
import { labelPatchSchema, labelsSchema, labelsViewSchema } from './labels';
import { isDigest, normaliseRepository, parseImageReference } from './registry';
import { leaveRollouts } from './rollouts/device-removal';
import { applyReport } from './rollouts/device-transitions';
import { sendPendingJoins } from './rollouts/joins';
import { newDeviceToken, sha256Hex } from './secrets';
import {
  deleteDeviceItem,
  deleteRepositoryMembers,
  getStoredDevice,
  listDevices,
  publicDevice,
  putNewDevice,
  recordCurrentState,
  replaceTokenHash,
  setAppContainer,
  updateDeviceFields,
  type PendingJoins,
  type StoredDevice,
} from './store/devices';

const imageSchema = z
  .string()
  .min(1)
  .max(512)
  .superRefine((value, ctx) => {
    try {
      parseImageReference(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : 'is not an image reference' });
    }
  });

const ipAddress = z.string().refine((value) => isIP(value) !== 0, 'must be an IPv4 or IPv6 address');
const appName = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/, 'must be 1-64 letters, digits, "_", "." or "-"');

function uniqueNames(apps: { name: string }[], ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  apps.forEach((app, i) => {
    if (seen.has(app.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate app name "${app.name}"` });
    seen.add(app.name);
  });
}

export const deviceRegistrationSchema = z.strictObject({
  uuid: z
    .string()
    .regex(/^[0-9a-zA-Z-]{1,64}$/, 'must be 1-64 letters, digits or "-"')
    // `/devices/provision` is a route of its own, so a device of that uuid could not be reached.
    .refine((uuid) => uuid !== 'provision', 'must not be "provision"')
    .optional(),
  name: z.string().min(1).max(128),
  ip_address: ipAddress.nullable().optional(),
  apps: z
    .array(z.strictObject({ name: appName, image: imageSchema, container: containerSettingsSchema.optional() }))
    .min(1)
    .max(32)
    .superRefine(uniqueNames),
  labels: labelsSchema.optional(),
});
export type DeviceRegistration = z.infer<typeof deviceRegistrationSchema>;

/**
 * `PATCH /devices/{uuid}`: what an admin changes of a device, at least one field. `labels` is a
 * JSON merge patch (RFC 7396): a key with a value sets that label, a key with null removes it,
 * and labels it does not name stay.
 */
export const devicePatchSchema = z
  .strictObject({
    name: z.string().min(1).max(128).optional(),
    ip_address: ipAddress.nullable().optional(),
    labels: labelPatchSchema.optional(),
  })
  .refine((patch) => patch.name !== undefined || patch.ip_address !== undefined || patch.labels !== undefined, 'must have at least one of name, ip_address, labels');
export type DevicePatch = z.infer<typeof devicePatchSchema>;

/** `PUT /devices/{uuid}/apps/{app}`: the app's container settings, or null to drop them. */
export const appContainerSchema = z.strictObject({ container: containerSettingsSchema.nullable() });
export type AppContainerChange = z.infer<typeof appContainerSchema>;

/** Devices send more than we read (agent versions, metrics); what we do not know is ignored. */
export const stateReportSchema = z.object({
  apps: z
    .array(z.object({ name: appName, image: imageSchema, status: z.string().min(1).max(64), digest: z.string().max(256).refine(isDigest, 'must be a digest such as sha256:<64 hex digits>').optional() }))
    .max(32)
    .superRefine(uniqueNames),
  ip_address: ipAddress.optional(),
  error: z.string().max(2048).nullable().optional(),
  /** The target version the agent has applied: the `version` (ETag) of the target state it acted on. */
  target_version: z.number().int().min(1).optional(),
  /** Labels the agent is configured with: these keys are set on the device, its other labels stay. */
  labels: labelsSchema.optional(),
});
export type StateReport = z.infer<typeof stateReportSchema>;

/** An app of a target state: the image and, when set, how its container is run. */
export const targetAppSchema = z.object({ name: z.string(), image: z.string(), container: containerSettingsSchema.optional() });
/** An app as its device last reported it. */
export const reportedAppSchema = z.object({ name: z.string(), image: z.string(), status: z.string(), digest: z.string().optional() });

export const deviceViewSchema = z.object({
  uuid: z.string(),
  name: z.string(),
  ip_address: z.string().nullable(),
  target_apps: z.array(targetAppSchema),
  target_version: z.number().int(),
  current_apps: z.array(reportedAppSchema),
  current_error: z.string().nullable(),
  reported_at: z.string().nullable(),
  /** The provisioning key that registered the device, or null when an admin did. */
  provisioned_by: z.string().nullable(),
  /** Set by admins and reported by the device's agent; `{}` when it has none. */
  labels: labelsViewSchema,
  /**
   * `offline` (no report for 30 minutes, or none yet), `error` (its last report had one),
   * `updating` (a rollout waits to hear from it) or `online`.
   */
  status: z.enum(deviceStatuses),
  /** By app name, the rollout that is moving it. */
  active_rollouts: z.record(z.string(), z.object({ rollout_id: z.string(), batch: z.number().int(), image: z.string() })),
  created_at: z.string(),
  updated_at: z.string(),
});
export type DeviceView = z.infer<typeof deviceViewSchema>;
export const deviceResponseSchema = z.object({ device: deviceViewSchema });
export const deviceListSchema = z.object({ devices: z.array(deviceViewSchema), next_cursor: z.string().nullable() });
/** `201` of a registration: the only answer that carries the device's token. */
export const registeredDeviceSchema = z.object({ device: deviceViewSchema, device_token: z.string() });

/** What a device polls: its apps' target state, the version its ETag carries, and when to poll again. */
export const targetStateSchema = z.object({
  uuid: z.string(),
  apps: z.array(targetAppSchema),
  version: z.number().int(),
  poll_interval_seconds: z.number().int(),
});
export const currentStateResponseSchema = z.object({
  current_state: z.object({ uuid: z.string(), apps: z.array(reportedAppSchema), error: z.string().nullable(), reported_at: z.string().nullable() }),
});

/** A device as the admin API shows it: where it stands in each rollout, without storage details. */
export function deviceView(device: Device): DeviceView {
  const { rollouts, target_set_by, target_set_seq, provisioned_by, labels, ...rest } = device;
  const active_rollouts = Object.fromEntries(
    Object.entries(rollouts ?? {}).map(([app, pointer]) => [app, { rollout_id: pointer.rollout_id, batch: pointer.batch, image: pointer.image }]),
  );
  return { ...rest, provisioned_by: provisioned_by ?? null, labels: labels ?? {}, status: deviceStatusOf(device, now()), active_rollouts };
}

/**
 * Registers a device and issues its token, shown this once. `provisionedBy` names the
 * provisioning key that registered it, so that a retry with that key can be told apart.
 */
export async function registerDevice(input: DeviceRegistration, now: Date, provisionedBy?: string) {
  const uuid = input.uuid ?? randomUUID();
  const token = newDeviceToken(uuid);
  const at = now.toISOString();
  const device: StoredDevice = {
    uuid,
    name: input.name,
    ip_address: input.ip_address ?? null,
    target_apps: input.apps,
    target_version: 1,
    current_apps: [],
    current_error: null,
    reported_at: null,
    rollouts: {},
    target_set_by: {},
    target_set_seq: {},
    labels: input.labels ?? {},
    ...(provisionedBy ? { provisioned_by: provisionedBy } : {}),
    created_at: at,
    updated_at: at,
    token_hash: sha256Hex(token),
    // A rollout of one of its repositories under way (or done) takes it in.
    joins_pending: {},
    joins_pending_at: at,
  };
  await putNewDevice(device, repositoriesOf(device));
  await sendPendingJoins(device);
  return { device: deviceView(publicDevice(device)), device_token: token };
}

/** The repository memberships a device's apps hold (a rollout moves an app within its repository). */
function repositoriesOf(device: Pick<Device, 'target_apps'>): { repository: string; app: string }[] {
  return device.target_apps.map((app) => ({ repository: normaliseRepository(app.image), app: app.name }));
}

export const deviceTokenSchema = z.object({ device_uuid: z.string(), token: z.string() });

/**
 * Deletes a device and everything of it: its rows in the rollouts that wait on it are skipped
 * (lib/rollouts/device-removal.ts), its repository memberships go, and the device item goes last,
 * with its token. A crash half-way leaves the device item, so a retry finds what is left to do;
 * until then the device is listed and planned as before, and nothing refers to what is gone.
 * 404 only once nothing of it is left.
 */
export async function deleteDevice(uuid: string, now: Date): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const device = await getStoredDevice(uuid, true);
    if (!device) {
      if (attempt === 0) throw new NotFound(`device ${uuid} not found`);
      return; // deleted by a concurrent request
    }
    await leaveRollouts(device, now);
    await deleteRepositoryMembers(uuid, repositoriesOf(device));
    // A rollout that set a target meanwhile left a pointer this attempt did not see: look again.
    if (await deleteDeviceItem(uuid, device.target_version)) return;
  }
  throw new Conflict(`device ${uuid} kept changing while it was being deleted; try again`);
}

/** Issues the device a new token, shown this once; the old one is refused from now on. */
export async function rotateDeviceToken(uuid: string, now: Date): Promise<z.infer<typeof deviceTokenSchema>> {
  const device = await getStoredDevice(uuid, true);
  if (!device) throw new NotFound(`device ${uuid} not found`);
  const token = newDeviceToken(uuid);
  if (await replaceTokenHash(uuid, device.token_hash, sha256Hex(token), now.toISOString())) return { device_uuid: uuid, token };
  if (!(await getStoredDevice(uuid, true))) throw new NotFound(`device ${uuid} not found`);
  throw new Conflict(`the token of device ${uuid} was rotated by another request at the same time; rotate it again to get one you hold`);
}

export async function readDevice(uuid: string) {
  const device = await getStoredDevice(uuid);
  if (!device) throw new NotFound(`device ${uuid} not found`);
  return deviceView(publicDevice(device));
}

/**
 * Sets or drops one app's container settings. The target version moves only when they change,
 * so that agents are not told to recreate a container for nothing.
 */
export async function setContainerSettings(uuid: string, app: string, change: AppContainerChange, now: Date) {
  const device = await getStoredDevice(uuid, true);
  if (!device) throw new NotFound(`device ${uuid} not found`);
  const index = device.target_apps.findIndex((candidate) => candidate.name === app);
  if (index < 0) throw new NotFound(`device ${uuid} has no app "${app}"`);
  if (sameContainerSettings(device.target_apps[index]!.container, change.container)) return deviceView(publicDevice(device));
  // Apps are never removed or reordered, so the name is still at its index.
  const updated = await setAppContainer(uuid, index, app, change.container ?? null, now.toISOString());
  if (!updated) throw new NotFound(`device ${uuid} has no app "${app}"`);
  return deviceView(publicDevice(updated));
}

/**
 * Changes a device's name, IP address or labels with one conditional write of just those
 * attributes, so a report or a rollout's target written meanwhile is kept. The count of labels
 * is checked against the device as read.
 */
export async function patchDevice(uuid: string, patch: DevicePatch, now: Date) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const device = await getStoredDevice(uuid, true);
    if (!device) throw new NotFound(`device ${uuid} not found`);
    const labels = patch.labels ? mergeLabels(device.labels, patch.labels) : undefined;
    if (labels) checkLabelCount(labels, 'labels');
    const joinsPending = joinsAskedBy(device, labels);
    const updated = await updateDeviceFields(device, patch, now.toISOString(), joinsPending);
    if (!updated) continue;
    if (joinsPending) await sendPendingJoins(updated);
    return deviceView(publicDevice(updated));
  }
  // Only a label map written by someone else between each read and write gets here.
  throw new Error(`device ${uuid} kept changing while its fields were set; retrying`);
}

/**
 * The requests to join that a change to `labels` (from the labels of `device` as read) asks for:
 * labels that change may make the device match a rollout's selector it did not before.
 */
function joinsAskedBy(device: Pick<Device, 'labels'>, labels: Labels | undefined): PendingJoins | undefined {
  return labels && labelsChanged(device.labels, labels) ? { labels_before: device.labels ?? {} } : undefined;
}

/** Whether one of the device's apps is in a rollout: its batch set the target and waits for its report. */
function inRollout(device: Pick<Device, 'rollouts'>): boolean {
  return Object.keys(device.rollouts ?? {}).length > 0;
}

function labelsChanged(before: Labels | undefined, after: Labels | undefined): boolean {
  const a = before ?? {};
  const b = after ?? {};
  return Object.keys(a).length !== Object.keys(b).length || Object.entries(a).some(([key, value]) => b[key] !== value);
}

/** A 400 when the labels the device would end up with are too many. */
function checkLabelCount(labels: Labels, field: string): void {
  const count = Object.keys(labels).length;
  if (count <= maxLabels) return;
  const message = `would give the device ${count} labels; it may have at most ${maxLabels}`;
  throw new Invalid(`${field} ${message}`, { issues: [{ path: field, message }] });
}

/** `?label=key:value` (repeatable) as a selector, each checked. */
export function labelFilterOf(values: readonly string[]): Labels {
  const selector = new Map<string, string>();
  const problems: { path: string; message: string }[] = [];
  for (const text of values) {
    const parsed = parseLabelFilter(text);
    if ('problem' in parsed) problems.push({ path: 'label', message: parsed.problem });
    else if (selector.has(parsed.key) && selector.get(parsed.key) !== parsed.value) problems.push({ path: 'label', message: `"${text}": ${parsed.key} is asked for twice, with two values` });
    else selector.set(parsed.key, parsed.value);
  }
  if (selector.size > maxLabels) problems.push({ path: 'label', message: `must be given at most ${maxLabels} times` });
  if (problems.length > 0) throw new Invalid(problems.map((p) => `${p.path} ${p.message}`).join('; '), { issues: problems });
  return Object.fromEntries(selector);
}

/** `?status=…` as the status asked for; a 400 naming the statuses there are otherwise. */
export function statusFilterOf(values: readonly string[]): DeviceStatus | undefined {
  if (values.length === 0) return undefined;
  const [value] = values;
  const problem =
    values.length > 1 ? 'must be given at most once' : !(deviceStatuses as readonly string[]).includes(value!) ? `must be one of ${deviceStatuses.join(', ')} (got "${value}")` : undefined;
  if (problem) throw new Invalid(`status ${problem}`, { issues: [{ path: 'status', message: problem }] });
  return value as DeviceStatus;
}

/**
 * A page of devices; with a label selector or a status, the page's devices that match. The
 * filter is applied to each page as read, so a page may have fewer devices than `limit`, even
 * none, with a `next_cursor` to go on from.
 */
export async function pageOfDevices(limit: number, cursor?: string, selector: Labels = {}, status?: DeviceStatus) {
  const page = await listDevices(limit, cursor);
  const views = page.items.filter((device) => matchesSelector(device.labels, selector)).map(deviceView);
  return { items: status ? views.filter((view) => view.status === status) : views, next_cursor: page.next_cursor };
}

export function etagOf(device: Pick<Device, 'target_version'>): string {
  return `"${device.target_version}"`;
}

/** Whether the device's If-None-Match names the current target state (then it gets a 304). */
export function isUnchanged(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(',').some((candidate) => {
    const value = candidate.trim();
    return value === '*' || value === etag || value === `W/${etag}`;
  });
}

/**
 * How soon the device should poll again: soon while one of its apps is in a rollout (its batch
 * set the target and waits for its report) and for one long interval after a report that app
 * made in it (`poll_soon_until`: its health check, and a rollback if it fails, usually come
 * within that), rarely otherwise. Derived from the device item the poll has read anyway, so the
 * hot path stays one GetItem. Known gap: a device whose batch comes next is not told to poll
 * sooner; it learns of its new target at its next long poll, which stretches a batch by up to the
 * long interval.
 */
export function pollIntervalOf(device: Pick<StoredDevice, 'rollouts' | 'poll_soon_until'>, now: Date): number {
  const settings = config();
  const soon = inRollout(device) || (device.poll_soon_until !== undefined && Date.parse(device.poll_soon_until) > now.getTime());
  return soon ? settings.devicePollIntervalActiveSeconds : settings.devicePollIntervalSeconds;
}

export function targetStateOf(device: StoredDevice, now: Date): z.infer<typeof targetStateSchema> {
  return { uuid: device.uuid, apps: device.target_apps, version: device.target_version, poll_interval_seconds: pollIntervalOf(device, now) };
}

/**
 * Records a report with one write to the device item. The rows it settles are moved first, from
 * the device as read to authenticate it; that write then drops their pointers, if they are still
 * the ones read. If one changed meanwhile (a new target, or a read behind the last write), the
 * report is recorded alone and the device as written decides, its pointers cleared one by one.
 */
export async function reportCurrentState(device: StoredDevice, report: StateReport, now: Date): Promise<z.infer<typeof currentStateResponseSchema>['current_state']> {
  const apps: ReportedApp[] = report.apps;
  // Against the device as read, before anything is written: no read is added to the hot path.
  const labels = report.labels ? mergeLabels(device.labels, report.labels) : undefined;
  if (labels) checkLabelCount(labels, 'labels');
  const joinsPending = joinsAskedBy(device, labels);
  const facts = { apps, error: report.error ?? null, ...(report.target_version !== undefined ? { target_version: report.target_version } : {}) };
  const state = {
    apps,
    ...(report.ip_address ? { ip_address: report.ip_address } : {}),
    error: report.error ?? null,
    ...(report.labels ? { labels: report.labels } : {}),
    ...(joinsPending ? { joinsPending } : {}),
    // A report in a rollout: its verdict, and a rollback, should reach the device soon.
    ...(inRollout(device) ? { pollSoonUntil: new Date(now.getTime() + config().devicePollIntervalSeconds * 1000).toISOString() } : {}),
  };
  const at = now.toISOString();
  const settled = await applyReport(device, facts, now);
  let updated = settled.length > 0 ? await recordCurrentState(device, state, at, settled) : undefined;
  // Settled pointers that were no longer there (or rows not settled before) are left to the device as written.
  updated ??= await recordCurrentState(device, state, at);
  if (inRollout(updated)) await applyReport(updated, facts, now, { clear: true });
  if (joinsPending) await sendPendingJoins(updated);
  return { uuid: updated.uuid, apps: updated.current_apps, error: updated.current_error, reported_at: updated.reported_at };
}
