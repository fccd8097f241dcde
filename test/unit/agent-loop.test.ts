import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Agent, appsToAdopt, backoffMs, type DeviceProtocol } from '../../agent/agent';
import { labels } from '../../agent/engine';
import type { PollResult, StateReport, TargetState } from '../../agent/protocol';
import { SimulatedEngine, SimulatedRegistry } from '../../agent/simulated-engine';
import { FileStateStore, MemoryStateStore } from '../../agent/state-store';

/** A server in a box: one target state with an ETag, and the reports it got. */
function fakeServer(target: TargetState) {
  const reports: StateReport[] = [];
  let polls = 0;
  const client: DeviceProtocol = {
    async poll(etag?: string): Promise<PollResult> {
      polls++;
      const current = `"${target.version}"`;
      return etag === current ? { changed: false, pollIntervalSeconds: undefined } : { changed: true, target: structuredClone(target), etag: current, pollIntervalSeconds: undefined };
    },
    async report(report) {
      reports.push(report);
    },
  };
  return { client, reports, target, polls: () => polls };
}

const own = (uuid: string, app: string, image: string, extra: Record<string, string> = {}) => ({
  name: `legacy-${uuid}-${app}`,
  image,
  settings: { network_mode: 'host' },
  labels: { [labels.app]: app, [labels.device]: uuid, [labels.image]: image, ...extra },
});

describe('the agent loop on the simulated engine', () => {
  it('pulls the new image before it stops the old container, and reports target_version and digest', async () => {
    const registry = new SimulatedRegistry();
    const engine = new SimulatedEngine(registry);
    engine.seed(own('dev-a', 'main', 'acme/app:1'));
    const server = fakeServer({ uuid: 'dev-a', version: 4, apps: [{ name: 'main', image: 'acme/app:2' }] });
    const agent = new Agent({ uuid: 'dev-a', client: server.client, engine, store: new MemoryStateStore(), settleMs: 0 });
    await agent.step();
    const ops = engine.calls.map((c) => c.op);
    expect(ops).toEqual(['pull', 'stop', 'remove', 'create', 'start']);
    expect(server.reports).toEqual([{ apps: [{ name: 'main', image: 'acme/app:2', status: 'running', digest: registry.resolve('acme/app:2') }], target_version: 4 }]);
    // Its settings came along; the previous image was never removed (the engine has no image removal call at all).
    expect(engine.snapshot()[0]).toMatchObject({ name: 'fleet-deva-main', image: 'acme/app:2', state: 'running', settings: { network_mode: 'host' } });
  });

  it('pulls nothing for an app already on the digest its target pins', async () => {
    const registry = new SimulatedRegistry();
    const engine = new SimulatedEngine(registry, { pullFailure: () => 'registry unreachable' });
    const web = `acme/web:1@${registry.resolve('acme/web:1')}`;
    engine.seed(own('dev-a', 'web', web, { [labels.digest]: registry.resolve('acme/web:1')! }));
    engine.seed(own('dev-a', 'db', 'acme/db:1'));
    const server = fakeServer({ uuid: 'dev-a', version: 3, apps: [{ name: 'web', image: web }, { name: 'db', image: 'acme/db:2' }] });
    await new Agent({ uuid: 'dev-a', client: server.client, engine, store: new MemoryStateStore(), settleMs: 0 }).step();
    expect(engine.calls.filter((c) => c.op === 'pull').map((c) => c.target)).toEqual(['acme/db:2']);
    expect(server.reports[0]!.apps).toEqual([
      { name: 'web', image: web, status: 'running', digest: registry.resolve('acme/web:1') },
      { name: 'db', image: 'acme/db:2', status: 'error' },
    ]);
  });

  it('reports error with the engine message when the new container does not start', async () => {
    const engine = new SimulatedEngine(undefined, { startFailure: (spec) => (spec.image === 'acme/app:2' ? 'exec format error' : undefined) });
    engine.seed(own('dev-a', 'main', 'acme/app:1'));
    const server = fakeServer({ uuid: 'dev-a', version: 2, apps: [{ name: 'main', image: 'acme/app:2' }] });
    await new Agent({ uuid: 'dev-a', client: server.client, engine, store: new MemoryStateStore(), settleMs: 0 }).step();
    expect(server.reports[0]).toMatchObject({ apps: [{ name: 'main', image: 'acme/app:2', status: 'error' }], target_version: 2, error: expect.stringMatching(/exec format error/) });
  });

  it('leaves the old container running when the pull fails', async () => {
    const engine = new SimulatedEngine(undefined, { pullFailure: (image) => (image === 'acme/app:2' ? 'manifest unknown' : undefined) });
    engine.seed(own('dev-a', 'main', 'acme/app:1'));
    const server = fakeServer({ uuid: 'dev-a', version: 2, apps: [{ name: 'main', image: 'acme/app:2' }] });
    await new Agent({ uuid: 'dev-a', client: server.client, engine, store: new MemoryStateStore(), settleMs: 0 }).step();
    expect(server.reports[0]).toMatchObject({ apps: [{ status: 'error' }], error: expect.stringMatching(/manifest unknown/) });
    expect(engine.snapshot()).toMatchObject([{ image: 'acme/app:1', state: 'running' }]);
  });

  it('adopts the running container labelled with its app name, keeping its settings, when the target gives none', async () => {
    const engine = new SimulatedEngine();
    engine.seed({ name: 'hand-made', image: 'acme/app:1', settings: { network_mode: 'host', volumes: ['/data:/data'] }, labels: { [labels.app]: 'main' } });
    const server = fakeServer({ uuid: 'dev-a', version: 2, apps: [{ name: 'main', image: 'acme/app:2' }] });
    await new Agent({ uuid: 'dev-a', client: server.client, engine, store: new MemoryStateStore(), settleMs: 0 }).step();
    expect(engine.snapshot()).toEqual([
      expect.objectContaining({ name: 'fleet-deva-main', image: 'acme/app:2', settings: { network_mode: 'host', volumes: ['/data:/data'] }, labels: expect.objectContaining({ [labels.device]: 'dev-a' }) }),
    ]);
  });

  it('adopts a stopped one too, as an agent killed while replacing it leaves it, and keeps its settings', async () => {
    const engine = new SimulatedEngine();
    engine.seed({ name: 'hand-made', image: 'acme/app:1', settings: { network_mode: 'host', env: ['LISTEN=10.0.0.5:80'] }, labels: { [labels.app]: 'main' } });
    await engine.stop(engine.snapshot()[0]!.id);
    const server = fakeServer({ uuid: 'dev-a', version: 2, apps: [{ name: 'main', image: 'acme/app:2' }] });
    await new Agent({ uuid: 'dev-a', client: server.client, engine, store: new MemoryStateStore(), settleMs: 0 }).step();
    expect(engine.snapshot()).toEqual([expect.objectContaining({ name: 'fleet-deva-main', image: 'acme/app:2', state: 'running', settings: { network_mode: 'host', env: ['LISTEN=10.0.0.5:80'] } })]);
    expect(server.reports[0]).toMatchObject({ apps: [{ name: 'main', status: 'running' }] });
  });

  it('waits for a stop under way before it removes the container, so its process has let go of the ports', async () => {
    const engine = new SimulatedEngine();
    engine.seed({ name: 'hand-made', image: 'acme/app:1', settings: { network_mode: 'host' }, labels: { [labels.app]: 'main' } }, 'stopping');
    engine.seed(own('dev-a', 'side', 'acme/side:1'), 'exited');
    const server = fakeServer({ uuid: 'dev-a', version: 2, apps: [{ name: 'main', image: 'acme/app:2' }, { name: 'side', image: 'acme/side:2' }] });
    await new Agent({ uuid: 'dev-a', client: server.client, engine, store: new MemoryStateStore(), settleMs: 0 }).step();
    const ops = engine.calls.filter((c) => c.op === 'stop' || c.op === 'remove').map((c) => `${c.op} ${c.target}`);
    // The exited one needs no stop.
    expect(ops).toEqual(['stop hand-made', 'remove hand-made', 'remove legacy-dev-a-side']);
  });

  it('names the apps a device runs before any agent, for provisioning: unowned labelled containers, running ones first', async () => {
    const engine = new SimulatedEngine();
    engine.seed({ name: 'old-web', image: 'acme/web:0', settings: {}, labels: { [labels.app]: 'web' } });
    await engine.stop(engine.snapshot()[0]!.id);
    engine.seed({ name: 'web', image: 'acme/web:1', settings: {}, labels: { [labels.app]: 'web' } });
    engine.seed({ name: 'db', image: 'acme/db:3', settings: {}, labels: { [labels.app]: 'db' } });
    engine.seed(own('dev-b', 'other', 'acme/other:1'));
    expect(await appsToAdopt(engine)).toEqual([
      { name: 'db', image: 'acme/db:3' },
      { name: 'web', image: 'acme/web:1' },
    ]);
  });

  it('recreates a container whose settings changed, and touches only containers with its own device label', async () => {
    const engine = new SimulatedEngine();
    engine.seed(own('dev-a', 'main', 'acme/app:1'));
    engine.seed(own('dev-b', 'main', 'acme/app:1'));
    const server = fakeServer({ uuid: 'dev-a', version: 2, apps: [{ name: 'main', image: 'acme/app:1', container: { network_mode: 'bridge', ports: ['8080:80'] } }] });
    await new Agent({ uuid: 'dev-a', client: server.client, engine, store: new MemoryStateStore(), settleMs: 0 }).step();
    const [b, a] = [engine.snapshot().find((c) => c.labels[labels.device] === 'dev-b')!, engine.snapshot().find((c) => c.labels[labels.device] === 'dev-a')!];
    expect(b).toMatchObject({ name: 'legacy-dev-b-main', state: 'running', settings: { network_mode: 'host' } });
    expect(a).toMatchObject({ name: 'fleet-deva-main', settings: { network_mode: 'bridge', ports: ['8080:80'] } });
    expect(engine.calls.filter((c) => c.op === 'stop').map((c) => c.target)).toEqual(['legacy-dev-a-main']);
  });

  it('resumes from its state dir after a restart: no re-apply, no duplicate report', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-state-'));
    const engine = new SimulatedEngine();
    engine.seed(own('dev-a', 'main', 'acme/app:1'));
    const server = fakeServer({ uuid: 'dev-a', version: 2, apps: [{ name: 'main', image: 'acme/app:2' }] });
    await new Agent({ uuid: 'dev-a', client: server.client, engine, store: new FileStateStore(dir), settleMs: 0 }).step();
    const calls = engine.calls.length;
    const restarted = new Agent({ uuid: 'dev-a', client: server.client, engine, store: new FileStateStore(dir), settleMs: 0 });
    expect(restarted.etag).toBe('"2"');
    expect(await restarted.step()).toMatchObject({ applied: false });
    expect(engine.calls.length).toBe(calls);
    expect(server.reports).toHaveLength(1);
  });

  it('reports again at least every 10 minutes while nothing changes', async () => {
    let now = 0;
    const engine = new SimulatedEngine();
    engine.seed(own('dev-a', 'main', 'acme/app:1'));
    const server = fakeServer({ uuid: 'dev-a', version: 1, apps: [{ name: 'main', image: 'acme/app:1' }] });
    const agent = new Agent({ uuid: 'dev-a', client: server.client, engine, store: new MemoryStateStore(), settleMs: 0, now: () => now });
    await agent.step();
    now = 9 * 60_000;
    await agent.step();
    expect(server.reports).toHaveLength(1);
    now = 10 * 60_000;
    await agent.step();
    expect(server.reports).toHaveLength(2);
    expect(server.reports[1]).toMatchObject({ target_version: 1, apps: [{ status: 'running' }] });
  });

  it('sends its configured labels with every report, the periodic ones too', async () => {
    let now = 0;
    const engine = new SimulatedEngine();
    engine.seed(own('dev-a', 'main', 'acme/app:1'));
    const server = fakeServer({ uuid: 'dev-a', version: 1, apps: [{ name: 'main', image: 'acme/app:1' }] });
    const store = new MemoryStateStore();
    const labelled = { ring: 'canary', site: 'berlin' };
    const agent = new Agent({ uuid: 'dev-a', client: server.client, engine, store, settleMs: 0, now: () => now, labels: labelled });
    await agent.step();
    now = 10 * 60_000;
    await agent.step();
    expect(server.reports.map((r) => r.labels)).toEqual([labelled, labelled]);
    // Labels come from the configuration of the running agent, not from the report it saved.
    expect(store.load().last_report).not.toHaveProperty('labels');
    const unlabelled = new Agent({ uuid: 'dev-a', client: server.client, engine, store: new MemoryStateStore(), settleMs: 0, labels: {} });
    await unlabelled.step();
    expect(server.reports[2]).not.toHaveProperty('labels');
  });

  it('backs off exponentially, and never sooner than Retry-After', () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4].map((n) => backoffMs(n, 300_000, mid))).toEqual([750, 1500, 3000, 6000]);
    expect(backoffMs(30, 300_000, () => 1)).toBe(300_000);
    expect(backoffMs(1, 300_000, mid, 20_000)).toBe(20_000);
  });

  it('stops cleanly when aborted', async () => {
    const engine = new SimulatedEngine();
    const server = fakeServer({ uuid: 'dev-a', version: 1, apps: [] });
    const stop = new AbortController();
    const agent = new Agent({ uuid: 'dev-a', client: server.client, engine, store: new MemoryStateStore(), settleMs: 0, defaultPollSeconds: 3600 });
    const running = agent.run(stop.signal);
    await new Promise((r) => setTimeout(r, 20));
    stop.abort();
    await running;
    expect(server.polls()).toBe(1);
  });
});
