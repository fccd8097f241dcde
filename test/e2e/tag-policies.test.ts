/**
 * Version-aware policies through the HTTP API: a `tag_policy` other than `glob` rolls out only
 * version tags within its rule and only ever forward from what the policy runs, and the webhook's
 * answer says why a push was turned away. A policy stored before tag policies keeps matching
 * every tag.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { registerFleet, startPolling, type SimulatedDevice } from '../../agent/simulator/fleet';
import { keys } from '../../lib/store/keys';
import { hostState } from '../fuzz/host-state';
import { expectError } from '../support/api';
import { flow } from '../support/flow';

let host: Host;
let f: ReturnType<typeof flow>;
const stops: (() => Promise<void>)[] = [];
/** Push times one second apart, so that every push is a delivery of its own and they order as sent. */
let pushClock = Math.floor(Date.now() / 1000);

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true });
  f = flow(host);
});

afterAll(async () => {
  await Promise.all(stops.map((stop) => stop()));
  await host?.stop();
});

async function fleetOf(size: number, image: string) {
  const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size, image });
  stops.push(startPolling(devices, 100));
  return devices;
}

const push = (repository: string, tag: string) => f.push(repository, tag, ++pushClock);

/** Pushes a tag that must roll out, and waits for its rollout to complete with the fleet on it. */
async function rollsOut(repository: string, tag: string, devices: SimulatedDevice[]): Promise<string> {
  const { status, body } = await push(repository, tag);
  expect(status).toBe(202);
  expect(body.rollouts, JSON.stringify(body.pushes)).toHaveLength(1);
  expect(body.pushes[0].declined_policies).toEqual([]);
  const id = body.rollouts[0].id;
  await f.waitForStatus(id, 'completed');
  await f.waitForRollout(id, () => devices.every((d) => d.running[0]!.image === `${repository}:${tag}`), `every device on ${tag}`);
  return id;
}

/** Pushes a tag that the policy must turn away, and returns the reason the answer gives. */
async function turnedAway(repository: string, tag: string, policyId: string): Promise<string> {
  const { status, body } = await push(repository, tag);
  expect(status).toBe(202);
  expect(body.rollouts).toEqual([]);
  const [outcome] = body.pushes;
  expect(outcome).toMatchObject({ repository, tag, rollout_id: null, policy: null, passed_over_policies: [] });
  expect(outcome.declined_policies).toHaveLength(1);
  expect(outcome.declined_policies[0]).toMatchObject({ id: policyId });
  const reason: string = outcome.declined_policies[0].reason;
  expect(outcome.message).toBe(`no enabled policy takes ${repository}:${tag}: policy ${policyId}: ${reason}; nothing rolls out`);
  return reason;
}

async function rolloutsOf(repository: string): Promise<any[]> {
  return (await f.api('GET', `/api/v1/rollouts?image_name=${encodeURIComponent(repository)}&limit=100`)).body.rollouts;
}

describe('tag policies', () => {
  it('semver ^1.2: rolls 1.2.0 and 1.3.0 out; turns away a downgrade, 2.0.0, a prerelease (until asked for) and latest, saying why', async () => {
    const repository = 'tags/semver-app';
    const policy = await f.createPolicy({ image_pattern: `${repository}:*`, update_strategy: 'auto', batch_delay_minutes: 0, tag_policy: 'semver', semver_range: '^1.2' });
    expect(policy).toMatchObject({ tag_policy: 'semver', semver_range: '^1.2', include_prereleases: false });
    const devices = await fleetOf(3, `${repository}:1.0.0`);

    await rollsOut(repository, '1.2.0', devices);
    const current = await rollsOut(repository, '1.3.0', devices);
    // The rollout keeps the settings it was made with, the tag policy among them.
    expect((await f.rollout(current)).rollout.policy).toMatchObject({ tag_policy: 'semver', semver_range: '^1.2', include_prereleases: false });

    expect(await turnedAway(repository, '1.2.5', policy.id)).toBe(`1.2.5 is not newer than 1.3.0, which policy ${policy.id} runs (rollout ${current}); tag_policy semver`);
    expect(await turnedAway(repository, '2.0.0', policy.id)).toBe('2.0.0 is outside semver_range ^1.2');
    expect(await turnedAway(repository, '1.4.0-rc.1', policy.id)).toBe('1.4.0-rc.1 is a prerelease and include_prereleases is false');
    expect(await turnedAway(repository, 'latest', policy.id)).toMatch(/^latest is not a version/);

    // A copy of a turned-away push gets the same answer.
    const copy = await f.push(repository, 'latest', pushClock);
    expect(copy.body.pushes[0].declined_policies[0].reason).toMatch(/^latest is not a version/);
    expect(await rolloutsOf(repository)).toHaveLength(2);
    expect(devices.every((d) => d.running[0]!.image === `${repository}:1.3.0`)).toBe(true);

    const updated = await f.api('PUT', `/api/v1/policies/${policy.id}`, {
      body: { image_pattern: `${repository}:*`, update_strategy: 'auto', batch_delay_minutes: 0, tag_policy: 'semver', semver_range: '^1.2', include_prereleases: true },
    });
    expect(updated.status).toBe(200);
    expect(updated.body.policy.include_prereleases).toBe(true);
    await rollsOut(repository, '1.4.0-rc.1', devices);
  });

  it('minor: moves within the major, not to the next one nor back; a rolled-back version no longer counts as running', async () => {
    const repository = 'tags/minor-app';
    const policy = await f.createPolicy({ image_pattern: repository, update_strategy: 'auto', batch_delay_minutes: 0, tag_policy: 'minor' });
    const devices = await fleetOf(2, `${repository}:1.0.0`);

    await rollsOut(repository, 'v1.4.1', devices);
    const running = await rollsOut(repository, 'v1.5.0', devices);
    expect(await turnedAway(repository, 'v2.0.0', policy.id)).toBe(`v2.0.0 is outside minor of v1.5.0, which policy ${policy.id} runs (rollout ${running}): minor moves only within 1.x.x`);
    expect(await turnedAway(repository, 'v1.4.9', policy.id)).toMatch(/^v1\.4\.9 is not newer than v1\.5\.0/);
    // The same version spelt without the v is no re-push of the running tag.
    expect(await turnedAway(repository, '1.5.0', policy.id)).toMatch(/^1\.5\.0 is not newer than v1\.5\.0/);

    // 1.6.0 goes out, and is rolled back: the devices are on 1.5.0 again, so 1.5.1 may follow.
    const rolledBack = await rollsOut(repository, 'v1.6.0', devices);
    expect((await f.api('POST', `/api/v1/rollouts/${rolledBack}/rollback-all`, { body: { reason: 'bad release' } })).status).toBe(200);
    await f.waitForRollout(rolledBack, () => devices.every((d) => d.running[0]!.image === `${repository}:v1.5.0`), 'every device back on v1.5.0');
    await rollsOut(repository, 'v1.5.1', devices);
  });

  it('patch: moves within major.minor; a re-push of the running tag rolls out as any re-push', async () => {
    const repository = 'tags/patch-app';
    const policy = await f.createPolicy({ image_pattern: `${repository}:*`, update_strategy: 'auto', batch_delay_minutes: 0, tag_policy: 'patch' });
    const devices = await fleetOf(2, `${repository}:1.2.0`);

    await rollsOut(repository, '1.2.3', devices);
    const running = await rollsOut(repository, '1.2.4', devices);
    expect(await turnedAway(repository, '1.3.0', policy.id)).toBe(`1.3.0 is outside patch of 1.2.4, which policy ${policy.id} runs (rollout ${running}): patch moves only within 1.2.x`);
    expect(await turnedAway(repository, '1.2.2', policy.id)).toMatch(/^1\.2\.2 is not newer than 1\.2\.4/);
    const rebuilt = await rollsOut(repository, '1.2.4', devices);
    expect(rebuilt).not.toBe(running);
  });

  it('a policy that turns the tag away is out of the choice: a lower-priority policy that takes it rolls it out, and says who declined', async () => {
    const repository = 'tags/shared-app';
    const strict = await f.createPolicy({ name: 'stable', image_pattern: `${repository}:*`, priority: 10, update_strategy: 'auto', batch_delay_minutes: 0, tag_policy: 'semver', semver_range: '^1' });
    const anyTag = await f.createPolicy({ name: 'anything', image_pattern: `${repository}:*`, update_strategy: 'auto', batch_delay_minutes: 0 });
    const devices = await fleetOf(2, `${repository}:1.0.0`);

    const taken = await push(repository, '1.1.0');
    expect(taken.body.pushes[0]).toMatchObject({ policy: { id: strict.id }, passed_over_policies: [{ id: anyTag.id }], declined_policies: [] });

    const { body } = await push(repository, '2.0.0');
    const reason = '2.0.0 is outside semver_range ^1';
    expect(body.pushes[0]).toMatchObject({ policy: { id: anyTag.id }, passed_over_policies: [], declined_policies: [{ id: strict.id, name: 'stable', reason }] });
    expect(body.pushes[0].message).toContain(`; declined by tag policy: policy stable: ${reason}`);
    const id = body.rollouts[0].id;
    const created = (await f.events(id)).find((e) => e.type === 'image.rollout_created');
    expect(created.details.declined_policies).toEqual([expect.objectContaining({ id: strict.id, reason })]);
    await f.waitForStatus(id, 'completed');
    await f.waitForRollout(id, () => devices.every((d) => d.running[0]!.image === `${repository}:2.0.0`), 'every device on 2.0.0');
  });

  it('refuses a bad semver_range, or one without tag_policy semver, naming the field, and writes nothing', async () => {
    const state = hostState(host);
    try {
      await state.drained();
      const before = await state.snapshot();
      const base = { image_pattern: 'tags/refused:*', update_strategy: 'auto' };
      const bad = await f.api('POST', '/api/v1/policies', { body: { ...base, tag_policy: 'semver', semver_range: 'latest' } });
      expectError(bad, 400, 'semver_range');
      expect(bad.body.error.details.issues).toEqual([{ path: 'semver_range', message: 'is not a semver range: "latest" (write one such as ^1.2, ~1.4.0 or >=2 <3)' }]);
      expectError(await f.api('POST', '/api/v1/policies', { body: { ...base, tag_policy: 'semver', semver_range: '^1.2 ||' } }), 400, 'semver_range');
      expectError(await f.api('POST', '/api/v1/policies', { body: { ...base, tag_policy: 'semver' } }), 400, 'semver_range', 'is required when tag_policy is semver');
      expectError(await f.api('POST', '/api/v1/policies', { body: { ...base, tag_policy: 'minor', semver_range: '^1.2' } }), 400, 'semver_range', 'only used with tag_policy semver');
      expectError(await f.api('POST', '/api/v1/policies', { body: { ...base, include_prereleases: true } }), 400, 'include_prereleases');
      expectError(await f.api('POST', '/api/v1/policies', { body: { ...base, tag_policy: 'calver' } }), 400, 'tag_policy');
      await state.drained();
      expect(state.diff(before, await state.snapshot())).toBeUndefined();
    } finally {
      state.close();
    }
  });

  it('keeps a policy stored before tag policies matching every tag, as glob', async () => {
    const repository = 'tags/legacy-app';
    const policy = await f.createPolicy({ image_pattern: `${repository}:*`, update_strategy: 'auto', batch_delay_minutes: 0 });
    // As it was stored before the fields existed.
    const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1', endpoint: host.endpoints.dynamodb, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }));
    try {
      await dynamo.send(new UpdateCommand({ TableName: host.tableName, Key: keys.policy(policy.id), UpdateExpression: 'REMOVE tag_policy, semver_range, include_prereleases' }));
    } finally {
      dynamo.destroy();
    }
    const read = await f.api('GET', `/api/v1/policies/${policy.id}`);
    expect(read.body.policy).toMatchObject({ tag_policy: 'glob', semver_range: null, include_prereleases: false });

    const devices = await fleetOf(2, `${repository}:2.0.0`);
    await rollsOut(repository, 'latest', devices);
    // Glob has no notion of versions: an older one rolls out too.
    await rollsOut(repository, '1.0.0', devices);
  });
});
