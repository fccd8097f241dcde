/**
 * One chaos run (DESIGN §6 under faults): concurrent rollouts over a simulated fleet on the
 * embedded host while its SDK calls fail or are slow, its queues deliver everything twice, its
 * process is killed right after a write, webhooks arrive as concurrent copies and as
 * near-simultaneous re-pushes, and admins pause, resume, cancel and roll back at random; an admin
 * also rolls back the older rollout of each tag pushed again a few seconds later, after the newer
 * one has taken its devices over. Then the faults stop, the run converges (paused rollouts
 * resumed, or cancelled if they pause again), and the invariant checker reads the table and the
 * devices' engines.
 *
 * The host runs in a child process (host-lives.ts) so that it can die for real; the devices run
 * here and outlive its crashes, as real devices would. Every choice comes from `seed`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { registerFleet, SimulatedRegistry, startPolling, type SimulatedDevice } from '../../agent/simulator/fleet';
import { revertableByAdmin } from '../../lib/domain/rollout-control';
import type { DeviceRolloutStatus } from '../../lib/domain/types';
import { HostLives, type HostInfo } from './host-lives';
import { checkInvariants, readTable, type AdminAction, type EngineTruth, type SentPush, type Table } from './invariants';
import { Random } from './random';

export interface ChaosOptions {
  rollouts: number;
  devices: number;
  seed: number;
  /** Share of SDK calls that fail, 0–1. */
  faultRate: number;
  /** Host processes killed right after a write. */
  crashes: number;
  /** The policies' `max_unavailable`, so that the paced scheduler runs under the faults too. */
  maxUnavailable?: number;
  /** An admin rolls back the older rollout of each tag pushed again a few seconds later. */
  revertSuperseded?: boolean;
  /** Milliseconds between two polls of one device. */
  pollMs?: number;
  /** How long the run may take to converge before it reports what is stuck, in ms. */
  timeoutMs?: number;
  /** Progress lines on stderr. */
  log?: (line: string) => void;
  /** The child host's LOG_LEVEL (its logs then go to this process's stdout and stderr). */
  hostLogLevel?: string;
  /** Keeps the data dir of a run with violations (its path is logged), for a look at the table. */
  keepOnViolation?: boolean;
}

export interface ChaosResult {
  seed: number;
  rollouts: number;
  devices: number;
  transitions: number;
  faults: number;
  faultsAfterWrite: number;
  /** Device writes held back before they reached the store. */
  slowWrites: number;
  /** Target writes held back for a newer rollout's write of the same device, and how many a newer write overtook. */
  heldWrites: number;
  overtakenWrites: number;
  /** Queue messages delivered again, plus extra copies of webhooks. */
  duplicates: number;
  crashes: number;
  actions: number;
  violations: string[];
  seconds: number;
}

export function summaryLine(result: ChaosResult): string {
  return (
    `chaos: seed=${result.seed} rollouts=${result.rollouts} devices=${result.devices} transitions=${result.transitions} ` +
    `faults=${result.faults} (${result.faultsAfterWrite} after the write) slow_writes=${result.slowWrites} held_writes=${result.heldWrites} (${result.overtakenWrites} overtaken) duplicates=${result.duplicates} crashes=${result.crashes} ` +
    `admin_actions=${result.actions} violations=${result.violations.length} (${Math.round(result.seconds)} s)`
  );
}

const ended = new Set(['completed', 'cancelled', 'rolled_back', 'failed']);
const deviceEventTypes = new Set(['image.device_scheduled', 'image.device_updated', 'image.device_failed', 'image.health_check_passed', 'image.health_check_failed', 'image.device_rolled_back', 'image.device_skipped']);

interface Answer {
  status: number;
  body: any;
}

/** The API as a client sees it: a failed connection (the host is restarting) is a status 0. */
function client(host: () => HostInfo) {
  return async function call(method: string, path: string, body?: unknown, token?: string | null): Promise<Answer> {
    const auth = token === undefined ? host().adminApiKey : token;
    try {
      const response = await fetch(`${host().url}${path}`, {
        method,
        headers: { ...(auth ? { authorization: `Bearer ${auth}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: keep the text
      }
      return { status: response.status, body: parsed };
    } catch {
      return { status: 0, body: undefined };
    }
  };
}

/** Retries what a real client retries: no connection, 5xx and 429; anything else is the answer. */
async function persist(call: () => Promise<Answer>, tries = 60): Promise<Answer> {
  let answer: Answer = { status: 0, body: undefined };
  for (let attempt = 0; attempt < tries; attempt++) {
    answer = await call();
    if (answer.status !== 0 && answer.status < 500 && answer.status !== 429) return answer;
    await sleep(250);
  }
  return answer;
}

/**
 * How a repository's pushes are notified: through a Distribution registry, which names each
 * push's digest and time; through Docker Hub's webhook with its push time; or in the minimal
 * Docker Hub form of the README (no time, so the copies of one push must agree on the time the
 * first of them was received).
 */
type Notifier = 'distribution' | 'docker-hub' | 'docker-hub-minimal';

function notifierOf(index: number): Notifier {
  return index % 2 === 1 ? 'distribution' : index % 4 === 0 ? 'docker-hub-minimal' : 'docker-hub';
}

interface Notification {
  repository: string;
  tag: string;
  pushedAt: number;
  copies: number;
  /** Milliseconds after the start of the push phase. */
  sendAtMs: number;
  /** A re-push of the previous notification's tag a few seconds later: the one it supersedes. */
  lateRepushOf?: Notification;
  sent: SentPush;
}

/**
 * The pushes: for each repository, tags in push order, some pushed again (a rebuilt tag: a new
 * notification) within a second or a few seconds later, some posted as concurrent copies, sent
 * in an order that sometimes has a newer push's notification arrive before an older one's.
 * `lateness` decides which re-pushes come late, apart from `random` so that adding it left the
 * rest of the plan of a seed as it was.
 */
function planPushes(random: Random, lateness: Random, repositories: string[], count: number, spreadMs: number): Notification[] {
  const notifications: Notification[] = [];
  const base = Math.floor(Date.now() / 1000);
  const perRepository = repositories.map(() => 0);
  for (let i = 0; i < count; i++) perRepository[i % repositories.length]!++;
  repositories.forEach((repository, r) => {
    let tag = 1;
    let pushedAt = base;
    for (let n = 0; n < perRepository[r]!; n++) {
      const previous = notifications.at(-1);
      const repush = n > 0 && previous?.repository === repository && random.chance(0.35);
      const lateMs = repush && lateness.chance(0.5) ? lateness.int(3000, 7000) : 0;
      if (repush) {
        pushedAt += 1 + Math.ceil(lateMs / 1000);
      } else {
        tag++;
        pushedAt += 2;
      }
      // Drawn for a late re-push too, unused, so that the draws after it stay as they were.
      const soonMs = repush ? random.int(0, 400) : 0;
      const sendAtMs = repush ? previous!.sendAtMs + (lateMs > 0 ? lateMs : soonMs) : random.int(0, spreadMs);
      notifications.push({
        repository,
        tag: `v${tag}`,
        pushedAt,
        copies: random.chance(0.4) ? random.int(2, 4) : 1,
        sendAtMs,
        ...(lateMs > 0 ? { lateRepushOf: previous! } : {}),
        sent: { repository, tag: `v${tag}`, answeredRolloutIds: [] },
      });
    }
  });
  return notifications;
}

/** The webhook request of one notification: path, body and bearer token (Docker Hub's rides in the URL). */
function webhookRequest(notifier: Notifier, n: Notification, id: string, digest: string | undefined, secret: string): { path: string; body: string; token: string | null } {
  if (notifier === 'distribution') {
    const event = { id, timestamp: new Date(n.pushedAt * 1000).toISOString(), action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: n.repository, tag: n.tag, digest } };
    return { path: '/api/v1/webhooks/distribution', body: JSON.stringify({ events: [event] }), token: secret };
  }
  const path = `/api/v1/webhooks/docker-registry?token=${encodeURIComponent(secret)}`;
  // Docker Hub gives each push a callback URL of its own: two pushes of one tag differ by it.
  const pushData = notifier === 'docker-hub' ? { tag: n.tag, pushed_at: n.pushedAt, pusher: 'chaos' } : { tag: n.tag };
  return { path, body: JSON.stringify({ push_data: pushData, repository: { repo_name: n.repository }, callback_url: `https://registry.hub.docker.invalid/u/${n.repository}/hook/${id}/` }), token: null };
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const random = new Random(options.seed);
  const pollMs = options.pollMs ?? 500;
  const timeoutMs = options.timeoutMs ?? 420_000;
  const dataDir = await mkdtemp(join(tmpdir(), 'fleet-chaos-'));
  const crashPlan = Array.from({ length: options.crashes }, (_, i) => (i === 0 ? random.int(20, 120) : random.int(60, 400)));
  const repositoryCount = Math.max(1, Math.min(Math.ceil(options.rollouts / 2), Math.floor(options.devices / 4)));
  const repositories = Array.from({ length: repositoryCount }, (_, r) => `chaos/app${r + 1}`);
  const spreadMs = Math.max(3000, options.rollouts * 1500);
  const notifications = planPushes(random.fork(1), random.fork(3), repositories, options.rollouts, spreadMs);
  const tags = notifications.map((n) => `${n.repository}:${n.tag}`);
  const pushedAgain = [...new Set(tags.filter((tag, i) => tags.indexOf(tag) !== i))];
  const lives = new HostLives({ dataDir, seed: options.seed, crashPlan, pushedAgain, ...(options.hostLogLevel ? { logLevel: options.hostLogLevel } : {}) });
  const violations: string[] = [];
  let stopPolling: (() => Promise<void>) | undefined;
  let webhookCopies = 0;
  const actions: AdminAction[] = [];
  const rolloutIds = new Set<string>();
  try {
    await lives.start();
    const call = client(() => lives.host);
    // Every other repository is pushed through a Distribution registry, which names each push's
    // digest (a re-push of a tag is new content), and its devices report the digests they run;
    // the others through Docker Hub's webhook, which names none (see notifierOf).
    const registry = new SimulatedRegistry();
    const notifierFor = (repository: string) => notifierOf(repositories.indexOf(repository));

    // The fleet and the policies, before any fault.
    for (const repository of repositories) {
      const policy = await call('POST', '/api/v1/policies', {
        image_pattern: `${repository}:*`,
        update_strategy: 'staged',
        batch_percentages: [20, 60, 100],
        batch_delay_minutes: 0.03,
        update_timeout_minutes: 1,
        auto_rollback_enabled: true,
        max_failure_rate: 0.5,
        ...(options.maxUnavailable ? { max_unavailable: options.maxUnavailable } : {}),
      });
      if (policy.status !== 201) throw new Error(`creating the policy for ${repository} answered ${policy.status}: ${JSON.stringify(policy.body)}`);
    }
    const devices: SimulatedDevice[] = [];
    for (const [r, repository] of repositories.entries()) {
      const size = Math.floor(options.devices / repositoryCount) + (r < options.devices % repositoryCount ? 1 : 0);
      const viaDistribution = notifierOf(r) === 'distribution';
      devices.push(
        ...(await registerFleet({ apiUrl: lives.host.url, adminKey: lives.host.adminApiKey, size, image: `${repository}:v1`, namePrefix: `r${r + 1}`, ...(viaDistribution ? { registry } : {}) })),
      );
    }
    const initial = new Map(devices.map((d) => [d.uuid, new Map(d.initialApps.map((a) => [a.name, a.image]))]));
    stopPolling = startPolling(devices, pollMs);
    log(`${devices.length} devices on ${repositories.length} repositories; faults at ${options.faultRate}, ${options.crashes} crash(es) planned after ${crashPlan.join(', ')} writes`);

    await lives.setFaults(options.faultRate);

    // Pushes and admin actions, interleaved.
    // The registry takes the pushes in push order, whatever order their notifications go out in.
    const digests = new Map(notifications.filter((n) => notifierFor(n.repository) === 'distribution').map((n) => [n, registry.push(`${n.repository}:${n.tag}`)]));
    const pushing = Promise.all(
      notifications.map(async (n, i) => {
        await sleep(n.sendAtMs);
        // Built at each try, from the host's life of the moment.
        const request = () => webhookRequest(notifierFor(n.repository), n, `chaos-${options.seed}-${i}`, digests.get(n), lives.host.webhookSecret);
        webhookCopies += n.copies - 1;
        const answers = await Promise.all(
          Array.from({ length: n.copies }, () =>
            persist(() => {
              const { path, body, token } = request();
              return call('POST', path, body, token);
            }),
          ),
        );
        for (const answer of answers) {
          const id = answer.status === 202 ? answer.body?.rollouts?.[0]?.id : undefined;
          n.sent.answeredRolloutIds.push(id ?? `(answer ${answer.status}: ${JSON.stringify(answer.body)})`);
          if (id) rolloutIds.add(id);
        }
      }),
    );

    /** One admin action, recorded for the checker; an answer no admin should get is a violation. */
    const admit = async (action: AdminAction['action'], id: string, deviceUuid?: string) => {
      const path = deviceUuid ? `/api/v1/rollouts/${id}/devices/${deviceUuid}/rollback` : `/api/v1/rollouts/${id}/${action}`;
      const answer = await persist(() => call('POST', path, action === 'resume' ? undefined : { reason: `chaos ${action}` }), 20);
      const outcomes = deviceUuid && answer.status === 200 ? (answer.body as { apps: { outcome: string }[] }).apps.map((a) => a.outcome) : undefined;
      actions.push({ action, rolloutId: id, status: answer.status, answeredAt: new Date().toISOString(), ...(deviceUuid ? { deviceUuid } : {}), ...(outcomes ? { outcomes } : {}) });
      if (answer.status >= 500 || answer.status === 0 || (answer.status >= 400 && answer.status !== 404 && answer.status !== 409)) {
        violations.push(`admin ${action} on ${id}${deviceUuid ? ` device ${deviceUuid}` : ''} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      }
      return answer;
    };
    /** The devices of a rollout an admin can roll back one by one: those given its image. */
    const updatedDevices = async (id: string): Promise<string[]> => {
      const rows = await persist(() => call('GET', `/api/v1/rollouts/${id}/devices?limit=200`), 20);
      if (rows.status !== 200) return [];
      const batches = (rows.body as { batches: { devices: { device_uuid: string; status: string }[] }[] }).batches;
      return batches.flatMap((batch) => batch.devices.filter((row) => revertableByAdmin.includes(row.status as DeviceRolloutStatus)).map((row) => row.device_uuid));
    };
    const statusOf = async (id: string): Promise<string | undefined> => {
      const answer = await persist(() => call('GET', `/api/v1/rollouts/${id}`), 20);
      return answer.status === 200 ? (answer.body as { rollout: { status: string } }).rollout.status : undefined;
    };

    // A tag pushed again a few seconds later: once the newer push's rollout has started (and
    // taken the devices over), an admin rolls the older one back, whole if it completed, else
    // device by device. What the newer rollout set must stay: a rollout undoes only its own.
    const revertRandom = random.fork(4);
    const supersededReverts = Promise.all(
      notifications.map(async (newer) => {
        const older = newer.lateRepushOf;
        if (!older) return;
        const pauseMs = revertRandom.int(0, 2000); // drawn before any wait: in plan order
        if (!options.revertSuperseded) return;
        await sleep(newer.sendAtMs);
        const idOf = (n: Notification) => n.sent.answeredRolloutIds.find((id) => id.startsWith('ro-'));
        const giveUpAt = Date.now() + 60_000;
        while ((!idOf(older) || !idOf(newer) || (await statusOf(idOf(newer)!)) === 'pending') && Date.now() < giveUpAt && !lives.fatal) await sleep(500);
        const [olderId, newerId] = [idOf(older), idOf(newer)];
        if (!olderId || !newerId || olderId === newerId) return;
        await sleep(pauseMs);
        if ((await statusOf(olderId)) === 'completed') {
          await admit('rollback-all', olderId);
          return;
        }
        for (const uuid of (await updatedDevices(olderId)).slice(0, 3)) await admit('rollback-device', olderId, uuid);
      }),
    );

    const actionRandom = random.fork(2);
    // Admins act while the pushes go out (slowly, when the host is restarting) and a while after.
    let adminUntil = Infinity;
    void pushing.then(() => (adminUntil = Date.now() + 8000), () => (adminUntil = 0));
    const admin = (async () => {
      await sleep(1500);
      while (Date.now() < adminUntil && !lives.fatal) {
        await sleep(actionRandom.int(600, 2000));
        const ids = [...rolloutIds].sort();
        if (ids.length === 0) continue;
        const id = actionRandom.pick(ids);
        const roll = actionRandom.next();
        const action: AdminAction['action'] = roll < 0.35 ? 'pause' : roll < 0.7 ? 'resume' : roll < 0.8 ? 'cancel' : roll < 0.88 ? 'rollback-all' : 'rollback-device';
        if (action === 'rollback-device') {
          // One of the rollout's devices that updated (any device of the fleet would mostly be a
          // 404 or a 409 that reaches no revert); any of the fleet while its rows cannot be read.
          const updated = await updatedDevices(id);
          await admit('rollback-device', id, actionRandom.pick(updated.length > 0 ? updated : devices.map((d) => d.uuid)));
          continue;
        }
        const answer = await admit(action, id);
        // Pauses mostly end soon, so that rollouts go on.
        if (action === 'pause' && answer.status < 300 && actionRandom.chance(0.6)) {
          void sleep(actionRandom.int(500, 3000)).then(() => persist(() => call('POST', `/api/v1/rollouts/${id}/resume`), 20)).then((a) => actions.push({ action: 'resume', rolloutId: id, status: a.status, answeredAt: new Date().toISOString() }));
        }
      }
    })();
    await Promise.all([pushing, admin, supersededReverts]);
    log(`pushed ${notifications.length} notification(s) (${webhookCopies} extra copies), ${actions.length} admin action(s)`);

    // Until every rollout has ended or paused (or the faults have had half the time), faults on.
    const statuses = async () => {
      const out = new Map<string, string>();
      for (const id of rolloutIds) {
        const answer = await persist(() => call('GET', `/api/v1/rollouts/${id}`));
        out.set(id, answer.status === 200 ? answer.body.rollout.status : `unreadable (${answer.status})`);
      }
      return out;
    };
    const deadline = started + timeoutMs;
    const faultsUntil = started + timeoutMs / 2;
    while (Date.now() < faultsUntil && !lives.fatal) {
      const now = await statuses();
      if ([...now.values()].every((s) => ended.has(s) || s === 'paused')) break;
      await sleep(1000);
    }
    await lives.setFaults(0);
    await lives.settled();
    log(`faults off after ${Math.round((Date.now() - started) / 1000)} s; ${lives.crashes} crash(es)`);

    // Converge: a paused rollout is resumed once, and cancelled if it pauses again.
    const resumed = new Set<string>();
    let last = new Map<string, string>();
    while (Date.now() < deadline && !lives.fatal) {
      last = await statuses();
      if ([...last.values()].every((s) => ended.has(s))) break;
      for (const [id, status] of last) {
        if (status !== 'paused') continue;
        const action = resumed.has(id) ? 'cancel' : 'resume';
        resumed.add(id);
        const answer = await persist(() => call('POST', `/api/v1/rollouts/${id}/${action}`, action === 'cancel' ? { reason: 'chaos run ends' } : undefined));
        actions.push({ action, rolloutId: id, status: answer.status, answeredAt: new Date().toISOString() });
      }
      await sleep(1000);
    }
    log(`converged after ${Math.round((Date.now() - started) / 1000)} s`);
    for (const [id, status] of last) if (!ended.has(status)) violations.push(`liveness: rollout ${id} is still ${status} after ${Math.round(timeoutMs / 1000)} s`);

    // Settle: every device runs its target and nothing moves for a moment.
    let table: Table | undefined;
    let quiet = 0;
    const settleUntil = Math.min(deadline + 30_000, Date.now() + 30_000);
    let previous = '';
    while (Date.now() < settleUntil && quiet < 3) {
      table = await readTable(lives.host.dynamodb, lives.host.tableName);
      const converged = devices.every((d) => {
        const target = table!.devices.get(d.uuid)?.target_apps ?? [];
        return d.running.every((app) => target.find((t) => t.name === app.name)?.image === app.image);
      });
      // Every ending's sweep closed: its rows checked and its counters recounted.
      const swept = [...table.rollouts.values()].every((r) => !r.sweep);
      const fingerprint = JSON.stringify([...table.devices.values()].map((d) => d.target_version)) + [...table.events.values()].reduce((n, e) => n + e.length, 0);
      quiet = converged && swept && fingerprint === previous ? quiet + 1 : 0;
      previous = fingerprint;
      await sleep(700);
    }
    log(`settled after ${Math.round((Date.now() - started) / 1000)} s`);
    await stopPolling();
    stopPolling = undefined;
    table = await readTable(lives.host.dynamodb, lives.host.tableName);
    const engines: EngineTruth = new Map(devices.map((d) => [d.uuid, new Map(d.running.map((a) => [a.name, a.image]))]));
    violations.push(...checkInvariants({ table, engines, initial, pushes: notifications.map((n) => n.sent), actions }));
    for (const rollout of table.rollouts.values()) if (rollout.sweep) violations.push(`liveness: rollout ${rollout.id} (${rollout.status}) never closed its sweep`);
    if (lives.fatal) violations.push(`host: ${lives.fatal}`);
    const stats = lives.stats;
    return {
      seed: options.seed,
      rollouts: table.rollouts.size,
      devices: devices.length,
      transitions: [...table.events.values()].flat().filter((e) => deviceEventTypes.has(e.type)).length,
      faults: stats.faults,
      faultsAfterWrite: stats.faultsAfterWrite,
      slowWrites: stats.slowWrites,
      heldWrites: stats.heldWrites,
      overtakenWrites: stats.overtakenWrites,
      duplicates: stats.duplicates + webhookCopies,
      crashes: lives.crashes,
      actions: actions.length,
      violations,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await stopPolling?.();
    await lives.stop();
    if (options.keepOnViolation && violations.length > 0) log(`data dir kept: ${dataDir} (DATA_DIR=${dataDir} PORT=0 npm start)`);
    else await rm(dataDir, { recursive: true, force: true });
  }
}
