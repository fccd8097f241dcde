/**
 * The agent loop: poll the target state, bring each app's container to it, report what runs.
 *
 * An update pulls first and only then stops the old container, so a failed or slow download
 * never takes an app down; the old image stays on the device for a quick rollback. Every report
 * says which target version it acted on, so the server can tell new content under a moving tag.
 */
import type { ContainerInfo, ContainerSettings, Engine } from './engine';
import { containerName, hasStopped, labels, pullReference, settingsHash } from './engine';
import type { PollResult, ReportedApp, StateReport, TargetApp, TargetState } from './protocol';
import { ProtocolError } from './protocol';
import type { AgentState, StateStore } from './state-store';

export interface DeviceProtocol {
  poll(etag?: string): Promise<PollResult>;
  report(report: StateReport): Promise<void>;
}

export interface AgentOptions {
  uuid: string;
  client: DeviceProtocol;
  engine: Engine;
  store: StateStore;
  ipAddress?: string;
  /** Sent with every report (`FLEET_LABELS`): the server sets these labels on the device. */
  labels?: Record<string, string>;
  /** How long a started container must stay up to count as running. */
  settleMs?: number;
  /** Poll interval when the server gives no hint. */
  defaultPollSeconds?: number;
  /** A report goes out at least this often, even when nothing changed. */
  reportEveryMs?: number;
  maxBackoffMs?: number;
  random?: () => number;
  now?: () => number;
  log?: (line: string) => void;
}

export interface StepResult {
  /** The server's poll interval hint, if it gave one. */
  pollIntervalSeconds: number | undefined;
  /** Whether this step acted on a new target state. */
  applied: boolean;
}

/** `seconds` ±20%. */
export function jittered(ms: number, random: () => number): number {
  return ms * (0.8 + 0.4 * random());
}

/** Exponential backoff with full jitter from 1 s, at least what Retry-After asked. */
export function backoffMs(failures: number, maxMs: number, random: () => number, retryAfterMs?: number): number {
  const ceiling = Math.min(maxMs, 1000 * 2 ** Math.min(failures - 1, 20));
  const wait = ceiling / 2 + (ceiling / 2) * random();
  return Math.max(wait, retryAfterMs ?? 0);
}

function sameSettings(wanted: ContainerSettings | undefined, running: ContainerInfo): boolean {
  if (wanted === undefined) return true;
  return running.labels[labels.settings] === settingsHash(wanted);
}

export class Agent {
  readonly uuid: string;
  private state: AgentState;
  private readonly o: Required<Pick<AgentOptions, 'settleMs' | 'defaultPollSeconds' | 'reportEveryMs' | 'maxBackoffMs' | 'random' | 'now' | 'log'>> & AgentOptions;

  constructor(options: AgentOptions) {
    this.uuid = options.uuid;
    this.o = { settleMs: 5000, defaultPollSeconds: 30, reportEveryMs: 10 * 60_000, maxBackoffMs: 5 * 60_000, random: Math.random, now: Date.now, log: () => {}, ...options };
    this.state = options.store.load();
  }

  get etag(): string | undefined {
    return this.state.etag;
  }

  get lastReport(): StateReport | undefined {
    return this.state.last_report;
  }

  private save(): void {
    this.o.store.save(this.state);
  }

  /** The containers this agent manages (its own device label) plus unowned app containers it may adopt. */
  private async containers(): Promise<{ own: ContainerInfo[]; adoptable: ContainerInfo[] }> {
    const all = await this.o.engine.listContainers();
    return {
      own: all.filter((c) => c.labels[labels.device] === this.uuid),
      adoptable: all.filter((c) => c.labels[labels.device] === undefined && c.labels[labels.app] !== undefined),
    };
  }

  /** One round: poll, apply a new target state, report when something is owed. */
  async step(): Promise<StepResult> {
    const polled = await this.o.client.poll(this.state.etag);
    if (!polled.changed) {
      const owed = this.state.last_report && (this.state.reported_at === undefined || this.o.now() - this.state.reported_at >= this.o.reportEveryMs);
      if (owed) await this.sendReport(this.state.reported_at === undefined ? this.state.last_report! : await this.currentReport());
      return { pollIntervalSeconds: polled.pollIntervalSeconds, applied: false };
    }
    const report = await this.apply(polled.target);
    this.state = { etag: polled.etag, target_version: polled.target.version, last_report: report };
    this.save();
    await this.sendReport(report);
    return { pollIntervalSeconds: polled.pollIntervalSeconds, applied: true };
  }

  private async sendReport(report: StateReport): Promise<void> {
    const labels = this.o.labels && Object.keys(this.o.labels).length > 0 ? { labels: this.o.labels } : {};
    await this.o.client.report({ ...report, ...labels });
    this.state = { ...this.state, last_report: report, reported_at: this.o.now() };
    this.save();
  }

  /** What runs now, for the periodic report: the last report's apps with their containers' states. */
  private async currentReport(): Promise<StateReport> {
    const last = this.state.last_report!;
    const { own } = await this.containers();
    const apps = last.apps.map((app) => {
      const container = own.find((c) => c.labels[labels.app] === app.name);
      if (!container || app.status !== 'running') return app;
      return { ...app, status: container.state === 'running' ? 'running' : container.state };
    });
    return { ...last, apps };
  }

  /** Brings every app to the target and says how each one ended. */
  async apply(target: TargetState): Promise<StateReport> {
    const { own, adoptable } = await this.containers();
    const reported: ReportedApp[] = [];
    const errors: string[] = [];
    // Pull everything first: nothing is stopped until its new image is on the device. An app whose
    // container already runs the digest the target pins has nothing to fetch, so a target change
    // elsewhere (another app, its settings) costs it no registry round trip and no failed pull.
    const pulled = new Map<string, { digest?: string } | { error: string }>();
    for (const app of target.apps) {
      const pinned = digestOf(app.image);
      const current = own.find((c) => c.labels[labels.app] === app.name);
      if (pinned && current && current.labels[labels.digest] === pinned && this.runsTarget(current, app, pinned)) {
        pulled.set(app.name, { digest: pinned });
        continue;
      }
      try {
        const digest = await this.o.engine.pull(pullReference(app.image));
        pulled.set(app.name, digest ? { digest } : {});
      } catch (error) {
        pulled.set(app.name, { error: `pull of ${app.image} failed: ${message(error)}` });
      }
    }
    for (const app of target.apps) {
      const pull = pulled.get(app.name)!;
      const current = own.find((c) => c.labels[labels.app] === app.name) ?? adoptionOf(adoptable, app.name);
      if ('error' in pull) {
        errors.push(pull.error);
        reported.push({ name: app.name, image: app.image, status: 'error' });
        continue;
      }
      if (current && this.runsTarget(current, app, pull.digest)) {
        const digest = current.labels[labels.digest];
        reported.push({ name: app.name, image: app.image, status: current.state === 'running' ? 'running' : current.state, ...(digest ? { digest } : {}) });
        continue;
      }
      const outcome = await this.replace(app, current, pull.digest);
      if (outcome.ok) reported.push({ name: app.name, image: app.image, status: 'running', ...(pull.digest ? { digest: pull.digest } : {}) });
      else {
        errors.push(outcome.message);
        reported.push({ name: app.name, image: app.image, status: 'error', ...(pull.digest ? { digest: pull.digest } : {}) });
      }
    }
    return {
      apps: reported,
      target_version: target.version,
      ...(this.o.ipAddress ? { ip_address: this.o.ipAddress } : {}),
      ...(errors.length > 0 ? { error: errors.join('; ') } : {}),
    };
  }

  private runsTarget(container: ContainerInfo, app: TargetApp, digest: string | undefined): boolean {
    if (container.labels[labels.device] !== this.uuid) {
      // An adopted container: the image it was started from, compared by name.
      return container.image === app.image && app.container === undefined;
    }
    const runningImage = container.labels[labels.image] ?? container.image;
    if (runningImage !== app.image) return false;
    if (digest !== undefined && container.labels[labels.digest] !== undefined && container.labels[labels.digest] !== digest) return false;
    if (container.state !== 'running') return false;
    return sameSettings(app.container, container);
  }

  /** Stops and removes the old container, then creates and starts the new one on the pulled image. */
  private async replace(app: TargetApp, current: ContainerInfo | undefined, digest: string | undefined): Promise<{ ok: true } | { ok: false; message: string }> {
    const engine = this.o.engine;
    const settings = app.container ?? current?.settings ?? {};
    try {
      if (current) {
        // Stopping a `stopping` container waits for that stop. Removing it at once would not do: Podman
        // removes it while its process still holds the app's ports, and the new one cannot bind them.
        if (!hasStopped(current.state)) await engine.stop(current.id);
        await engine.remove(current.id);
      }
      const id = await engine.create({
        name: containerName(this.uuid, app.name),
        image: pullReference(app.image),
        settings,
        labels: {
          [labels.app]: app.name,
          [labels.device]: this.uuid,
          [labels.image]: app.image,
          ...(digest ? { [labels.digest]: digest } : {}),
          ...(app.container ? { [labels.settings]: settingsHash(app.container) } : {}),
        },
      });
      await engine.start(id);
      const outcome = await engine.waitRunning(id, this.o.settleMs);
      if (!outcome.ok) return { ok: false, message: `${app.name} on ${app.image} did not stay up: ${outcome.message}` };
      this.o.log(`${app.name}: running ${app.image}${digest ? ` (${digest.slice(0, 19)})` : ''}`);
      return { ok: true };
    } catch (error) {
      return { ok: false, message: `${app.name} on ${app.image}: ${message(error)}` };
    }
  }

  /** Polls until `signal` aborts: the server's hint ±20% between polls, backoff after failures. */
  async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    let hintSeconds: number | undefined;
    while (!signal.aborted) {
      let waitMs: number;
      try {
        const result = await this.step();
        failures = 0;
        hintSeconds = result.pollIntervalSeconds ?? hintSeconds;
        waitMs = jittered((hintSeconds ?? this.o.defaultPollSeconds) * 1000, this.o.random);
      } catch (error) {
        failures++;
        const retryAfter = error instanceof ProtocolError ? error.retryAfterMs : undefined;
        waitMs = backoffMs(failures, this.o.maxBackoffMs, this.o.random, retryAfter);
        this.o.log(`poll failed (${failures} in a row), retrying in ${Math.round(waitMs / 1000)} s: ${message(error)}`);
      }
      await sleep(waitMs, signal);
    }
  }
}

/**
 * The unowned container an app adopts: its running one, else a stopped one (an agent killed while
 * replacing it leaves it stopped, and its settings must survive the restart).
 */
function adoptionOf(adoptable: ContainerInfo[], app: string): ContainerInfo | undefined {
  const candidates = adoptable.filter((c) => c.labels[labels.app] === app);
  return candidates.find((c) => c.state === 'running') ?? candidates[0];
}

/**
 * The apps a device already runs before any agent managed it: unowned containers labelled with an
 * app name, with the image each was started from. A device that provisions itself registers them,
 * so its first target state is what it runs and nothing restarts.
 */
export async function appsToAdopt(engine: Engine): Promise<{ name: string; image: string }[]> {
  const unowned = (await engine.listContainers()).filter((c) => c.labels[labels.device] === undefined && c.labels[labels.app] !== undefined);
  const names = [...new Set(unowned.map((c) => c.labels[labels.app]!))].sort();
  return names.map((name) => ({ name, image: adoptionOf(unowned, name)!.image }));
}

/** The digest an image reference pins (`repo:tag@sha256:…`), if any. */
function digestOf(image: string): string | undefined {
  const at = image.indexOf('@');
  return at === -1 ? undefined : image.slice(at + 1);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
