/**
 * `npm run demo`: a staged, health-gated rollout on a simulated fleet, live in the terminal. One
 * process runs the embedded host (in memory), devices that each serve a real HTTP health endpoint
 * on their own loopback address, a policy with an HTTP health check and auto-rollback, and a
 * Docker Hub push of a new image on which some devices turn unhealthy. `--help` lists the options.
 */
import { resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { startHost } from '../../infra/embedded/host';
import { adminClient, endedStatuses, EventLog, type AdminClient, type PolicyView, type RolloutDetail } from '../../client/admin-client';
import { optionProblems, parseDemoArgs, usage, UsageError, type DemoOptions } from './demo-options';
import { registerFleet, startHealthServers, startPolling, type SimulatedDevice } from './fleet';
import { interruptSignal, liveOutput } from '../../client/live-output';
import { describePolicy, noteworthy, percent, type LiveView } from '../../client/render';
import { renderSummary, summarise, type DemoSummary } from './summary';
import { makeUnhealthy, unhealthyCount } from './unhealthy-devices';

export type { DemoOptions } from './demo-options';
export type { DemoDevice, DemoSummary } from './summary';

const repository = 'demo/app';
const fromImage = `${repository}:1.0.0`;
const toImage = `${repository}:1.1.0`;

export class DemoError extends Error {
  override name = 'DemoError';
}

export class DemoInterrupted extends Error {
  override name = 'DemoInterrupted';
}

/** Runs the demo, writing the live view and the summary to `output`, and returns the summary. */
export async function runDemo(options: DemoOptions, output: Writable): Promise<DemoSummary> {
  const problems = optionProblems(options);
  if (problems.length > 0) throw new DemoError(problems.join('; '));
  const { signal } = options;
  // One process serves every device's polls: past 30 devices they poll less often, so that the
  // host keeps up (about 100 polls a second in all).
  const pollMs = options.pollMs ?? Math.max(300, options.devices * 10);
  const startedAt = Date.now();
  const live = liveOutput(output, { plain: options.plain ?? false });
  const names = new Map<string, string>();
  const view: LiveView = { title: 'fleet-rollout demo', startedAt, now: startedAt, fromImage, toImage, events: [], names, notes: [] };
  const show = (phase?: string) => {
    if (signal?.aborted) throw new DemoInterrupted('interrupted');
    if (phase) view.phase = phase;
    view.now = Date.now();
    live.update(view);
  };
  const cleanups: (() => Promise<void>)[] = [];
  try {
    show('starting the embedded host (in memory)');
    // The demo's images are simulated: no registry has a digest for them to look up.
    const host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: options.tickSeconds ?? 1, quiet: true, dockerHubManifestApiUrl: 'off', quayManifestApiUrl: 'off' });
    cleanups.push(() => host.stop());
    const api = adminClient(host.url, host.adminApiKey);

    show(`registering ${options.devices} simulated devices on ${fromImage}`);
    const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: options.devices, image: fromImage });
    for (const [i, device] of devices.entries()) names.set(device.uuid, `device-${i + 1}`);
    cleanups.push(async () => void (await Promise.all(devices.map((d) => d.stopHealthServer()))));
    const { port } = await startHealthServers(devices).catch(explainLoopback);
    const unhealthy = unhealthyCount(devices.length, options.fail);
    const addresses = `${devices[0]!.ipAddress}${devices.length > 1 ? `–${devices.at(-1)!.ipAddress.split('.').pop()}` : ''}`;
    view.fleet = `${devices.length} devices on ${addresses}, polling every ${pollMs} ms · ${unhealthy} (${percent(unhealthy / devices.length)}) unhealthy on the new image`;

    const { policy } = await api.call<{ policy: PolicyView }>('POST', '/api/v1/policies', {
      expect: 201,
      body: {
        name: 'demo',
        image_pattern: `${repository}:*`,
        update_strategy: 'staged',
        staged_batches: options.batches,
        batch_delay_minutes: options.delaySeconds / 60,
        update_timeout_minutes: 2,
        health_check_enabled: true,
        health_check_config: { type: 'http', endpoint: `http://{device_ip}:${port}/health`, expectedStatusCode: 200, timeout: 2, retries: 1 },
        auto_rollback_enabled: true,
        max_failure_rate: options.maxFailureRate,
      },
    });
    view.policy = describePolicy(policy);

    show(`pushing ${toImage} (Docker Hub webhook)`);
    const pushed = await api.call<{ rollouts: { id: string }[] }>('POST', `/api/v1/webhooks/docker-registry?token=${encodeURIComponent(host.webhookSecret)}`, {
      expect: 202,
      auth: false,
      body: { repository: { repo_name: repository }, push_data: { tag: toImage.split(':')[1], pusher: 'demo', pushed_at: Math.floor(Date.now() / 1000) } },
    });
    const rolloutId = pushed.rollouts[0]?.id;
    if (!rolloutId) throw new DemoError(`the push of ${toImage} created no rollout`);
    // The host lives as long as the demo: from another terminal, its dashboard and the CLI follow the same rollout.
    view.watch = `${host.url}/dashboard · FLEET_API_URL=${host.url} FLEET_ADMIN_KEY=${host.adminApiKey} npm run cli -- rollouts watch ${rolloutId}`;
    const events = new EventLog(() => api.events(rolloutId));
    const watch = async (): Promise<RolloutDetail> => {
      const detail = await api.rollout(rolloutId);
      await events.absorb(detail.events);
      Object.assign(view, { detail, events: events.list(noteworthy) });
      return detail;
    };

    while (!(await watch()).rollout.planned) {
      show();
      await pause(100, signal);
    }
    await makeUnhealthy(api, rolloutId, devices, unhealthy, options.seed);
    // Polling starts only now, so that no device runs the new image before its health is decided.
    const pollErrors: string[] = [];
    cleanups.push(startPolling(devices, pollMs, (error) => void pollErrors.push(error instanceof Error ? error.message : String(error))));

    const deadline = Date.now() + (60 + options.batches * (options.delaySeconds + 30)) * 1000;
    let detail = await watch();
    while (!endedStatuses.includes(detail.rollout.status)) {
      view.notes = pollErrors.length > 0 ? [`${pollErrors.length} device polls failed; the last: ${pollErrors.at(-1)}`] : [];
      show();
      if (Date.now() > deadline) throw new DemoError(`the rollout did not end in time; it is still ${detail.rollout.status}`);
      await pause(250, signal);
      detail = await watch();
    }
    show();

    // The last devices rolled back take their old image back on their next poll.
    const fleetSettled = await settle(api, devices, signal);
    const rows = new Map((await api.rolloutDevices(rolloutId)).map((row) => [row.device_uuid, row]));
    const summary = summarise({ detail, rows, devices, names, fromImage, startedAt });
    live.finish(view);
    live.print(renderSummary(live.style, summary));
    if (!fleetSettled) live.print(['note: some devices had not yet picked up their target image when the demo stopped']);
    if (options.lingerSeconds) {
      live.print([`The host stays up ${options.lingerSeconds} s more, for the dashboard and the CLI (--linger).`]);
      await pause(options.lingerSeconds * 1000, signal).catch(() => undefined);
    }
    return summary;
  } finally {
    live.finish(view);
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => live.print([`stopping part of the demo failed: ${error instanceof Error ? error.message : String(error)}`]));
    }
  }
}

/** Waits (up to a few seconds) until every simulated device runs its target image. */
async function settle(api: AdminClient, devices: SimulatedDevice[], signal: AbortSignal | undefined): Promise<boolean> {
  const targets = await api.targetImages('main');
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (devices.every((d) => d.running[0]!.image === targets.get(d.uuid))) return true;
    await pause(100, signal);
  }
  return false;
}

async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  await new Promise<void>((done) => {
    const stop = () => (clearTimeout(timer), done());
    const timer = setTimeout(() => (signal?.removeEventListener('abort', stop), done()), ms);
    signal?.addEventListener('abort', stop, { once: true });
  });
  if (signal?.aborted) throw new DemoInterrupted('interrupted');
}

function explainLoopback(error: unknown): never {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRNOTAVAIL') {
    throw new DemoError(
      `cannot listen on ${(error as { address?: string }).address ?? 'a loopback address'}: this system has only 127.0.0.1 on loopback ` +
        '(macOS). Add aliases first, e.g. for 30 devices: for i in $(seq 1 30); do sudo ifconfig lo0 alias 127.0.1.$i up; done',
    );
  }
  throw error;
}

async function main(argv: string[]): Promise<number> {
  let options: DemoOptions;
  try {
    const parsed = parseDemoArgs(argv);
    if (parsed.help) {
      process.stdout.write(usage);
      return 0;
    }
    options = parsed.options;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n(npm run demo -- --help lists the options)\n`);
    return 1;
  }
  // The handlers' JSON log lines would tear the live view apart; LOG_LEVEL=warn brings them back.
  process.env.LOG_LEVEL ??= 'silent';
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const signal = interruptSignal();
  try {
    const summary = await runDemo({ ...options, signal }, process.stdout);
    if (summary.status === 'failed') {
      process.stderr.write(`\nthe rollout failed: ${summary.statusReason ?? 'no reason given'}\n`);
      return 1;
    }
    process.stdout.write(`\nDone in ${summary.demoSeconds.toFixed(1)} s; the host and the simulated fleet are stopped.\n`);
    return 0;
  } catch (error) {
    if (error instanceof DemoInterrupted) {
      process.stderr.write('\ninterrupted: the host and the simulated fleet are stopped\n');
      return 130;
    }
    process.stderr.write(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
