/** Devices: registration, target state, reported current state, and rollout membership. */
import { BatchGetCommand, DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../aws-clients';
import type { Labels } from '../domain/labels';
import type { Device, ReportedApp, RolloutPointer, TargetApp } from '../domain/types';
import { Conflict, Unauthorized } from '../errors';
import { indexes, keys, listedKeys } from './keys';
import { conditionally, entityOf, isConditionFailed, queryIndexPage, resultUnlessConditionFailed, tableName, type Page } from './table';

export interface StoredDevice extends Device {
  token_hash: string;
  /**
   * A registration or label change written whose requests to join rollouts under way have not
   * all been sent yet (see lib/rollouts/joins.ts): `labels_before` are the labels before the
   * first such change, none after a registration (every rollout is asked). Written with the
   * change, so a send that fails, or a function that dies before it, leaves it for the device's
   * next poll to send again; removed once sent.
   */
  joins_pending?: PendingJoins;
  /** When the latest change asking for joins was written: removing `joins_pending` is conditioned on it. */
  joins_pending_at?: string;
  /** Until when the poll hint stays short after a report made in a rollout (see `pollIntervalOf` in lib/devices.ts). */
  poll_soon_until?: string;
}

export interface PendingJoins {
  labels_before?: Labels;
}

/**
 * The clauses that record a change asking for joins with the write that makes it: a pending
 * request already there keeps its `labels_before` (the earlier change is not asked for yet either).
 */
function pendingJoinsClauses(pending: PendingJoins | undefined, at: string, values: Record<string, unknown>): string[] {
  if (!pending) return [];
  values[':joins'] = pending;
  values[':joinsAt'] = at;
  return ['joins_pending = if_not_exists(joins_pending, :joins)', 'joins_pending_at = :joinsAt'];
}

/**
 * Removes the pending request to join once it was sent for the change written at `at`; a later
 * change (another `joins_pending_at`) keeps it, for the request that change sends.
 */
export async function clearPendingJoins(uuid: string, at: string): Promise<boolean> {
  return conditionally(
    dynamo().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.device(uuid),
        UpdateExpression: 'REMOVE joins_pending, joins_pending_at',
        ConditionExpression: 'joins_pending_at = :at',
        ExpressionAttributeValues: { ':at': at },
      }),
    ),
  );
}

export async function putNewDevice(device: StoredDevice, repositories: { repository: string; app: string }[]): Promise<void> {
  const created = await conditionally(
    dynamo().send(
      new PutCommand({
        TableName: tableName(),
        Item: { ...keys.device(device.uuid), ...keys.deviceListing(device.uuid), ...device },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    ),
  );
  if (!created) throw new Conflict(`a device with uuid ${device.uuid} already exists`);
  for (const { repository, app } of repositories) {
    await dynamo().send(
      new PutCommand({
        TableName: tableName(),
        Item: { ...keys.repositoryMember(repository, device.uuid, app), device_uuid: device.uuid, app },
      }),
    );
  }
}

/** Drops the device's repository memberships (deleting one that is gone is harmless). */
export async function deleteRepositoryMembers(uuid: string, repositories: { repository: string; app: string }[]): Promise<void> {
  for (const { repository, app } of repositories) {
    await dynamo().send(new DeleteCommand({ TableName: tableName(), Key: keys.repositoryMember(repository, uuid, app) }));
  }
}

/**
 * Deletes the device item if its target version is still `targetVersion`: a rollout that set a
 * target since (and so a pointer the caller has not seen) keeps it. False when it did not apply.
 */
export async function deleteDeviceItem(uuid: string, targetVersion: number): Promise<boolean> {
  return conditionally(
    dynamo().send(
      new DeleteCommand({
        TableName: tableName(),
        Key: keys.device(uuid),
        ConditionExpression: 'target_version = :version',
        ExpressionAttributeValues: { ':version': targetVersion },
      }),
    ),
  );
}

/** Replaces the device's token hash if it is still `from`; false when the device is gone or its token changed meanwhile. */
export async function replaceTokenHash(uuid: string, from: string, to: string, at: string): Promise<boolean> {
  return conditionally(
    dynamo().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.device(uuid),
        UpdateExpression: 'SET token_hash = :to, updated_at = :at',
        ConditionExpression: 'attribute_exists(pk) AND token_hash = :from',
        ExpressionAttributeValues: { ':from': from, ':to': to, ':at': at },
      }),
    ),
  );
}

export async function getStoredDevice(uuid: string, consistent = false): Promise<StoredDevice | undefined> {
  const { Item } = await dynamo().send(
    new GetCommand({ TableName: tableName(), Key: keys.device(uuid), ConsistentRead: consistent }),
  );
  return Item ? entityOf<StoredDevice>(Item) : undefined;
}

export function publicDevice(device: StoredDevice): Device {
  const { token_hash, joins_pending, joins_pending_at, poll_soon_until, ...rest } = device;
  return rest;
}

/** The devices of these uuids that exist; a uuid given twice (a device with two rows on a page) is read once. */
export async function getDevicesByUuid(given: string[]): Promise<StoredDevice[]> {
  const found: StoredDevice[] = [];
  // BatchGetItem refuses a request that names one key twice.
  const uuids = [...new Set(given)];
  for (let i = 0; i < uuids.length; i += 100) {
    let request: Record<string, { Keys: Record<string, unknown>[] }> | undefined = {
      [tableName()]: { Keys: uuids.slice(i, i + 100).map((uuid) => keys.device(uuid)) },
    };
    while (request && Object.keys(request).length > 0) {
      const result = await dynamo().send(new BatchGetCommand({ RequestItems: request }));
      for (const item of result.Responses?.[tableName()] ?? []) found.push(entityOf<StoredDevice>(item));
      request = result.UnprocessedKeys as typeof request;
    }
  }
  return found;
}

export async function listDevices(limit: number, cursor?: string): Promise<Page<Device>> {
  const page = await queryIndexPage(indexes.deviceList, keys.deviceListPk, { limit, ...(cursor ? { cursor: { cursor, listed: listedKeys.device } } : {}) });
  // The index holds keys only, so that the devices' frequent writes do not land on its one partition.
  const uuids = page.items.map((item) => String(item[indexes.deviceList.sk]));
  const byUuid = new Map((await getDevicesByUuid(uuids)).map((d) => [d.uuid, d]));
  return {
    items: uuids.flatMap((uuid) => {
      const device = byUuid.get(uuid);
      return device ? [publicDevice(device)] : [];
    }),
    next_cursor: page.next_cursor,
  };
}

/** Uuids (and app names) of the devices registered with an app of this repository, a page at a time. */
export async function listRepositoryMembers(
  repository: string,
  limit: number,
  startKey?: Record<string, unknown>,
): Promise<{ members: { device_uuid: string; app: string }[]; lastKey?: Record<string, unknown> }> {
  const result = await dynamo().send(
    new QueryCommand({
      TableName: tableName(),
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.repositoryPk(repository) },
      Limit: limit,
      ExclusiveStartKey: startKey,
    }),
  );
  return {
    members: (result.Items ?? []).map((item) => ({ device_uuid: String(item.device_uuid), app: String(item.app) })),
    ...(result.LastEvaluatedKey ? { lastKey: result.LastEvaluatedKey } : {}),
  };
}

export async function countRepositoryMembers(repository: string): Promise<number> {
  let count = 0;
  let startKey: Record<string, unknown> | undefined;
  do {
    const result = await dynamo().send(
      new QueryCommand({
        TableName: tableName(),
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.repositoryPk(repository) },
        Select: 'COUNT',
        ExclusiveStartKey: startKey,
      }),
    );
    count += result.Count ?? 0;
    startKey = result.LastEvaluatedKey;
  } while (startKey);
  return count;
}

/** A rollout pointer a report has settled, to be dropped with the write that records the report. */
export interface SettledPointer {
  app: string;
  rollout_id: string;
}

/** What a report records on the device item. */
export interface RecordedState {
  apps: ReportedApp[];
  ip_address?: string;
  error?: string | null;
  /** Labels the agent reports: these keys are set, the device's other labels stay. */
  labels?: Record<string, string>;
  /** Given when the reported labels change the device's: the joins that change asks for. */
  joinsPending?: PendingJoins;
  /** Given for a report made in a rollout: until when the device is told to poll soon. */
  pollSoonUntil?: string;
}

/**
 * Records what the device reports it runs, and drops the `settled` pointers with the same write
 * if each still names its rollout. Undefined when one does not (nothing is written then); a
 * device that does not exist (deleted since its token was checked) is a 401.
 *
 * Reported labels are set key by key in the same write (`SET labels.#k = :v`), which needs the
 * map to exist: `device` is the device as read to authenticate the report, and a device
 * registered before labels has none. Its map is then written whole, on the condition that it is
 * still absent; if that fails (an admin gave it labels meanwhile, or a settled pointer moved) the
 * write is tried once key by key. A label map, once there, is never removed, so a device read
 * with one has one. No read is added to the report.
 */
export async function recordCurrentState(device: Pick<Device, 'uuid' | 'labels'>, report: RecordedState, at: string): Promise<StoredDevice>;
export async function recordCurrentState(
  device: Pick<Device, 'uuid' | 'labels'>,
  report: RecordedState,
  at: string,
  settled: readonly SettledPointer[],
): Promise<StoredDevice | undefined>;
export async function recordCurrentState(
  device: Pick<Device, 'uuid' | 'labels'>,
  report: RecordedState,
  at: string,
  settled: readonly SettledPointer[] = [],
): Promise<StoredDevice | undefined> {
  const labels = Object.entries(report.labels ?? {});
  if (labels.length === 0 || device.labels !== undefined) return writeCurrentState(device.uuid, report, at, settled, 'by key');
  try {
    return await writeCurrentState(device.uuid, report, at, settled, 'whole map');
  } catch (error) {
    if (!isConditionFailed(error)) throw error;
  }
  try {
    return await writeCurrentState(device.uuid, report, at, settled, 'by key');
  } catch (error) {
    // Still no map: the settled pointers' condition was what failed, and the caller writes again without them.
    if (settled.length > 0 && isMissingDocumentPath(error)) return undefined;
    throw error;
  }
}

/** DynamoDB's answer to an update of a key in a map the item does not have. */
function isMissingDocumentPath(error: unknown): boolean {
  return error instanceof Error && error.name === 'ValidationException' && /document path/i.test(error.message);
}

async function writeCurrentState(
  uuid: string,
  report: RecordedState,
  at: string,
  settled: readonly SettledPointer[],
  labelsAs: 'by key' | 'whole map',
): Promise<StoredDevice | undefined> {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = { ':apps': report.apps, ':at': at, ':error': report.error ?? null };
  let update = 'SET current_apps = :apps, reported_at = :at, current_error = :error, updated_at = :at';
  if (report.ip_address !== undefined) {
    update += ', ip_address = :ip';
    values[':ip'] = report.ip_address;
  }
  let condition = 'attribute_exists(pk)';
  const labels = Object.entries(report.labels ?? {});
  if (labels.length > 0 && labelsAs === 'whole map') {
    update += ', labels = :labels';
    values[':labels'] = Object.fromEntries(labels);
    condition += ' AND attribute_not_exists(labels)';
  } else {
    labels.forEach(([key, value], i) => {
      names[`#label${i}`] = key;
      values[`:label${i}`] = value;
      update += `, labels.#label${i} = :label${i}`;
    });
  }
  settled.forEach((pointer, i) => {
    names[`#settled${i}`] = pointer.app;
    values[`:settled${i}`] = pointer.rollout_id;
    condition += ` AND rollouts.#settled${i}.rollout_id = :settled${i}`;
  });
  if (report.pollSoonUntil !== undefined) {
    update += ', poll_soon_until = :soon';
    values[':soon'] = report.pollSoonUntil;
  }
  for (const clause of pendingJoinsClauses(report.joinsPending, at, values)) update += `, ${clause}`;
  if (settled.length > 0) update += ` REMOVE ${settled.map((_, i) => `rollouts.#settled${i}`).join(', ')}`;
  const command = new UpdateCommand({
    TableName: tableName(),
    Key: keys.device(uuid),
    UpdateExpression: update,
    ConditionExpression: condition,
    ExpressionAttributeValues: values,
    ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
    ReturnValues: 'ALL_NEW',
  });
  // A failed condition on the whole map is the caller's to tell from a moved pointer or a deletion.
  if (labelsAs === 'whole map') return entityOf<StoredDevice>((await dynamo().send(command)).Attributes!);
  if (settled.length === 0) {
    const written = await resultUnlessConditionFailed(dynamo().send(command));
    // Deleted since its token was checked: the token no longer is one.
    if (!written?.Attributes) throw new Unauthorized(`invalid credentials: device ${uuid} was deleted`);
    return entityOf<StoredDevice>(written.Attributes);
  }
  const result = await resultUnlessConditionFailed(dynamo().send(command));
  return result?.Attributes ? entityOf<StoredDevice>(result.Attributes) : undefined;
}

/** What an admin changes of a device with `PATCH /devices/{uuid}`. */
export interface DeviceFieldsChange {
  name?: string;
  ip_address?: string | null;
  /** Labels to set (a value) or remove (null). */
  labels?: Record<string, string | null>;
}

/**
 * Sets the given fields of the device, and nothing else: a report or a rollout's target written
 * meanwhile stays. Labels change key by key when the device read (`device`) has a label map;
 * without one the map is written whole, on the condition that it is still absent. Undefined when
 * that condition failed (the caller reads the device again); a device that is gone is NotFound's
 * to say, so it is an undefined too, told apart by the caller's read. `joinsPending` is given when
 * the change moves the device's labels: the joins it asks for are recorded with it.
 */
export async function updateDeviceFields(
  device: Pick<Device, 'uuid' | 'labels'>,
  change: DeviceFieldsChange,
  at: string,
  joinsPending?: PendingJoins,
): Promise<StoredDevice | undefined> {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = { ':at': at };
  const set = ['updated_at = :at'];
  const remove: string[] = [];
  let condition = 'attribute_exists(pk)';
  if (change.name !== undefined) {
    names['#name'] = 'name';
    values[':name'] = change.name;
    set.push('#name = :name');
  }
  if (change.ip_address !== undefined) {
    values[':ip'] = change.ip_address;
    set.push('ip_address = :ip');
  }
  const labels = Object.entries(change.labels ?? {});
  if (labels.length > 0 && device.labels === undefined) {
    values[':labels'] = Object.fromEntries(labels.filter((entry): entry is [string, string] => entry[1] !== null));
    set.push('labels = :labels');
    condition += ' AND attribute_not_exists(labels)';
  } else {
    labels.forEach(([key, value], i) => {
      names[`#label${i}`] = key;
      if (value === null) remove.push(`labels.#label${i}`);
      else {
        values[`:label${i}`] = value;
        set.push(`labels.#label${i} = :label${i}`);
      }
    });
  }
  set.push(...pendingJoinsClauses(joinsPending, at, values));
  const result = await resultUnlessConditionFailed(
    dynamo().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.device(device.uuid),
        UpdateExpression: `SET ${set.join(', ')}${remove.length ? ` REMOVE ${remove.join(', ')}` : ''}`,
        ConditionExpression: condition,
        ExpressionAttributeValues: values,
        ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
        ReturnValues: 'ALL_NEW',
      }),
    ),
  );
  return result?.Attributes ? entityOf<StoredDevice>(result.Attributes) : undefined;
}

export interface TargetChange {
  app: string;
  /** The image the app must target now for the change to apply. */
  from: string;
  to: string;
}

/**
 * Gives one app of the device the rollout's image, from image `from` at target version
 * `version`, unless a newer rollout (higher `rank`) set the app's target: the rollout's rank and
 * pointer are written with the image, and the version (the ETag the device polls with) moves
 * even when the image string does not (a tag pushed again). The pointer records that new version,
 * so that a report can say the agent applied it. Returns false, changing nothing, when the
 * condition fails: the caller reads the device again to tell why.
 */
export async function setRolloutTarget(
  uuid: string,
  appIndex: number,
  change: TargetChange & { version: number },
  rank: string,
  pointer: Omit<RolloutPointer, 'target_version'>,
  at: string,
): Promise<boolean> {
  const set = (seq: { update: string; condition: string; values: Record<string, unknown> }) =>
    updateTarget(uuid, appIndex, change, at, {
      update: `, target_set_by.#app = :rank, rollouts.#app = :pointer, ${seq.update}`,
      condition: ` AND target_version = :version AND (attribute_not_exists(target_set_by.#app) OR target_set_by.#app <= :rank)${seq.condition}`,
      values: { ':rank': rank, ':pointer': { ...pointer, target_version: change.version + 1 }, ':version': change.version, ...seq.values },
    });
  return withTargetSetSeq(change.app, pointer.seq, set);
}

/** Runs a write that sets `target_set_seq.#app`, given the clauses that set it. */
async function withTargetSetSeq(app: string, seq: number, write: (clauses: { update: string; condition: string; values: Record<string, unknown> }) => Promise<boolean>): Promise<boolean> {
  try {
    return await write({ update: 'target_set_seq.#app = :seq', condition: '', values: { ':seq': seq } });
  } catch (error) {
    // A device registered before `target_set_seq` was kept has no map to set a key of.
    if (!(error instanceof Error && error.name === 'ValidationException' && /document path/i.test(error.message))) throw error;
    return write({ update: 'target_set_seq = :seqs', condition: ' AND attribute_not_exists(target_set_seq)', values: { ':seqs': { [app]: seq } } });
  }
}

/**
 * Marks one app's target as the rollout ranked `rank` has left it, without changing its image:
 * for a revert of row `seq` that found the target not (or not yet) set by that rollout. The
 * target version moves on, so a target write of the rollout still on its way (read at `version`
 * or before) fails its condition; the device is left as if the write had landed and been undone.
 * False, changing nothing, when the device changed since it was read at `version`, or a newer
 * rollout set the target: the caller reads it again.
 */
export async function fenceRolloutTarget(uuid: string, appIndex: number, app: string, rank: string, seq: number, version: number, at: string): Promise<boolean> {
  return withTargetSetSeq(app, seq, (clauses) =>
    conditionally(
      dynamo().send(
        new UpdateCommand({
          TableName: tableName(),
          Key: keys.device(uuid),
          UpdateExpression: `SET target_version = :next, target_set_by.#app = :rank, updated_at = :at, ${clauses.update}`,
          ConditionExpression: `attribute_exists(pk) AND target_version = :version AND target_apps[${appIndex}].#name = :app AND (attribute_not_exists(target_set_by.#app) OR target_set_by.#app < :rank)${clauses.condition}`,
          ExpressionAttributeNames: { '#app': app, '#name': 'name' },
          ExpressionAttributeValues: { ':next': version + 1, ':version': version, ':rank': rank, ':app': app, ':at': at, ...clauses.values },
        }),
      ),
    ),
  );
}

/**
 * Gives a device the rollout's target again, for a retry: the target version goes up (so its
 * agent applies the target anew, and its next report is judged against it) and the rollout's
 * pointer is set again. Only while the rollout ranked `rank` still owns the app's target and it is
 * still `pointer.image`; false otherwise (a newer push took the device over, the app left, the
 * device was deleted).
 */
export async function retryRolloutTarget(uuid: string, app: string, rank: string, pointer: Omit<RolloutPointer, 'target_version'>, at: string): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const device = await getStoredDevice(uuid, true);
    const appIndex = device?.target_apps.findIndex((a) => a.name === app) ?? -1;
    if (!device || appIndex < 0 || device.target_apps[appIndex]!.image !== pointer.image || device.target_set_by?.[app] !== rank) return false;
    const version = device.target_version;
    const done = await conditionally(
      dynamo().send(
        new UpdateCommand({
          TableName: tableName(),
          Key: keys.device(uuid),
          UpdateExpression: 'SET target_version = :next, rollouts.#app = :pointer, updated_at = :at',
          ConditionExpression: `attribute_exists(pk) AND target_version = :version AND target_set_by.#app = :rank AND target_apps[${appIndex}].image = :image`,
          ExpressionAttributeNames: { '#app': app },
          ExpressionAttributeValues: { ':next': version + 1, ':version': version, ':pointer': { ...pointer, target_version: version + 1 }, ':at': at, ':rank': rank, ':image': pointer.image },
        }),
      ),
    );
    if (done) return true;
  }
  return false;
}

/**
 * Puts one app back from the rollout's image `from` on `to`, only if the rollout ranked `rank`
 * set the target it has now: a rollout undoes what it did, never what a newer one did since.
 */
export async function restoreRolloutTarget(uuid: string, appIndex: number, change: TargetChange, rank: string, at: string): Promise<boolean> {
  return updateTarget(uuid, appIndex, change, at, {
    update: ' REMOVE rollouts.#app',
    condition: ' AND target_set_by.#app = :rank',
    values: { ':rank': rank },
  });
}

async function updateTarget(
  uuid: string,
  appIndex: number,
  change: TargetChange,
  at: string,
  extra: { update: string; condition: string; values: Record<string, unknown> },
): Promise<boolean> {
  return conditionally(
    dynamo().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.device(uuid),
        UpdateExpression: `SET target_apps[${appIndex}].image = :to, target_version = target_version + :one, updated_at = :at${extra.update}`,
        ConditionExpression: `attribute_exists(pk) AND target_apps[${appIndex}].#name = :name AND target_apps[${appIndex}].image = :from${extra.condition}`,
        ExpressionAttributeNames: { '#app': change.app, '#name': 'name' },
        ExpressionAttributeValues: { ':from': change.from, ':to': change.to, ':name': change.app, ':one': 1, ':at': at, ...extra.values },
      }),
    ),
  );
}

/**
 * Sets (or, given null, removes) the container settings of the app at `appIndex`, moving the
 * target version so that the device sees the change. Conditional on the app's name at that index,
 * as `updateTarget` is; the image is left alone, so a rollout and this never undo each other.
 * Undefined when the device or the app is not there.
 */
export async function setAppContainer(
  uuid: string,
  appIndex: number,
  app: string,
  container: TargetApp['container'] | null,
  at: string,
): Promise<StoredDevice | undefined> {
  const path = `target_apps[${appIndex}].container`;
  const result = await resultUnlessConditionFailed(
    dynamo().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.device(uuid),
        UpdateExpression: `SET ${container ? `${path} = :container, ` : ''}target_version = target_version + :one, updated_at = :at${container ? '' : ` REMOVE ${path}`}`,
        ConditionExpression: `attribute_exists(pk) AND target_apps[${appIndex}].#name = :name`,
        ExpressionAttributeNames: { '#name': 'name' },
        ExpressionAttributeValues: { ':name': app, ':one': 1, ':at': at, ...(container ? { ':container': container } : {}) },
        ReturnValues: 'ALL_NEW',
      }),
    ),
  );
  return result?.Attributes ? entityOf<StoredDevice>(result.Attributes) : undefined;
}

/** Forgets the device's membership in a rollout once it no longer needs its reports. */
export async function clearRolloutPointer(uuid: string, app: string, rolloutId: string): Promise<void> {
  await conditionally(
    dynamo().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.device(uuid),
        UpdateExpression: 'REMOVE rollouts.#app',
        ConditionExpression: 'rollouts.#app.rollout_id = :rollout',
        ExpressionAttributeNames: { '#app': app },
        ExpressionAttributeValues: { ':rollout': rolloutId },
      }),
    ),
  );
}
