/**
 * A container engine in memory, for the simulator, the demo, benchmarks and tests. With a
 * registry, a pull resolves a tag to the digest it points at now (a tag pushed again brings new
 * content); without one, images have no digest. Hooks let a simulated device misbehave.
 */
import { createHash } from 'node:crypto';
import type { ContainerInfo, ContainerSpec, ContainerState, Engine, StartOutcome } from './engine';
import { labels } from './engine';

/** Tag → digest, as a registry serves it: pushing a tag again gives it new content. */
export class SimulatedRegistry {
  private readonly tags = new Map<string, string>();
  private pushes = 0;

  /** Publishes new content under `repository:tag` and returns its digest. */
  push(image: string): string {
    const digest = `sha256:${createHash('sha256').update(`${image}#${++this.pushes}`).digest('hex')}`;
    this.tags.set(image, digest);
    return digest;
  }

  /** The digest a pull of `image` gets: the one it names, else what the tag points at now. */
  resolve(image: string): string {
    const at = image.indexOf('@');
    if (at !== -1) return image.slice(at + 1);
    return this.tags.get(image) ?? this.push(image);
  }
}

export interface SimulatedEngineHooks {
  /** A message when starting this container fails (it exits at once), else undefined. */
  startFailure?: (spec: ContainerSpec) => string | undefined;
  /** A message when pulling this image fails. */
  pullFailure?: (image: string) => string | undefined;
  /** Milliseconds a container takes to start (the pull and restart of a real device). */
  startDelayMs?: () => number;
}

interface SimulatedContainer extends ContainerInfo {
  spec: ContainerSpec;
  failure?: string;
}

export type EngineCall = { op: 'pull' | 'create' | 'start' | 'stop' | 'remove'; target: string };

export class SimulatedEngine implements Engine {
  private readonly containers = new Map<string, SimulatedContainer>();
  private readonly images = new Map<string, string | undefined>();
  private nextId = 1;
  /** Every call that changes something, in order: tests read it to check what came first. */
  readonly calls: EngineCall[] = [];

  constructor(
    private readonly registry?: SimulatedRegistry,
    public hooks: SimulatedEngineHooks = {},
  ) {}

  /** Puts a container in place as if it had been started before the agent: running, with these labels. */
  seed(spec: ContainerSpec, state: ContainerState = 'running'): string {
    const id = `sim-${this.nextId++}`;
    const digest = this.registry?.resolve(spec.image);
    this.images.set(spec.image, digest);
    this.containers.set(id, { id, name: spec.name, image: spec.image, labels: { ...spec.labels }, state, settings: structuredClone(spec.settings), spec });
    return id;
  }

  /** Synchronous view of the containers, for the simulator's `running`. */
  snapshot(): ContainerInfo[] {
    return [...this.containers.values()].map(({ spec: _spec, failure: _failure, ...info }) => ({ ...info, labels: { ...info.labels } }));
  }

  async listContainers(): Promise<ContainerInfo[]> {
    return this.snapshot().filter((c) => c.labels[labels.app] !== undefined);
  }

  async pull(image: string): Promise<string | undefined> {
    this.calls.push({ op: 'pull', target: image });
    const failure = this.hooks.pullFailure?.(image);
    if (failure) throw new Error(failure);
    const digest = this.registry?.resolve(image);
    this.images.set(image, digest);
    return digest;
  }

  async imageDigest(image: string): Promise<string | undefined> {
    return this.images.get(image);
  }

  async create(spec: ContainerSpec): Promise<string> {
    this.calls.push({ op: 'create', target: spec.name });
    if (!this.images.has(spec.image)) throw new Error(`no such image: ${spec.image}`);
    if ([...this.containers.values()].some((c) => c.name === spec.name)) throw new Error(`container name "${spec.name}" is already in use`);
    const id = `sim-${this.nextId++}`;
    this.containers.set(id, { id, name: spec.name, image: spec.image, labels: { ...spec.labels }, state: 'created', settings: structuredClone(spec.settings), spec });
    return id;
  }

  private get(id: string): SimulatedContainer {
    const container = this.containers.get(id);
    if (!container) throw new Error(`no such container: ${id}`);
    return container;
  }

  async start(id: string): Promise<void> {
    const container = this.get(id);
    this.calls.push({ op: 'start', target: container.name });
    const delay = this.hooks.startDelayMs?.() ?? 0;
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    const failure = this.hooks.startFailure?.(container.spec);
    if (failure) {
      container.state = 'exited';
      container.failure = failure;
    } else container.state = 'running';
  }

  async stop(id: string): Promise<void> {
    const container = this.get(id);
    this.calls.push({ op: 'stop', target: container.name });
    container.state = 'exited';
  }

  async remove(id: string): Promise<void> {
    const container = this.get(id);
    this.calls.push({ op: 'remove', target: container.name });
    this.containers.delete(id);
  }

  async waitRunning(id: string): Promise<StartOutcome> {
    const container = this.get(id);
    if (container.state === 'running') return { ok: true };
    return { ok: false, message: container.failure ?? `container ${container.name} is ${container.state}` };
  }
}
