/**
 * The chaos run's host, across its lives: forks test/chaos/host-process.ts on one data dir and
 * one port, and when a life ends by its planned SIGKILL, starts the next on the same dir and port
 * (the devices keep polling the same URL). Anything else ending a life is a failure of the run.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildMessage, LifeStats, ParentMessage } from './host-process';

const entry = fileURLToPath(new URL('./host-process.ts', import.meta.url));

export type HostInfo = Extract<ChildMessage, { type: 'ready' }>;

export interface HostLivesOptions {
  dataDir: string;
  seed: number;
  /** Writes after which each life dies, in order; a life past the list is not killed. */
  crashPlan: number[];
  /** The `repository:tag` of each tag pushed more than once: the overtaken writes' candidates. */
  pushedAgain?: string[];
  /** Child stderr and handler logs shown (LOG_LEVEL of the child); default silent. */
  logLevel?: string;
}

export class HostLives {
  crashes = 0;
  private child: ChildProcess | undefined;
  private info: HostInfo | undefined;
  private lifeStats: LifeStats[] = [];
  private current: LifeStats = { faults: 0, faultsAfterWrite: 0, slowWrites: 0, heldWrites: 0, overtakenWrites: 0, duplicates: 0, writes: 0 };
  private rate = 0;
  private stopping = false;
  private restarting: Promise<void> | undefined;
  private stderr = '';
  /** Set when a life ended in a way no plan asked for: the run stops and reports it. */
  fatal: string | undefined;

  constructor(private readonly options: HostLivesOptions) {}

  get host(): HostInfo {
    if (!this.info) throw new Error('the host has not started');
    return this.info;
  }

  /** Totals over every life so far. */
  get stats(): LifeStats {
    const all = [...this.lifeStats, this.current];
    return {
      faults: all.reduce((n, s) => n + s.faults, 0),
      faultsAfterWrite: all.reduce((n, s) => n + s.faultsAfterWrite, 0),
      slowWrites: all.reduce((n, s) => n + s.slowWrites, 0),
      heldWrites: all.reduce((n, s) => n + s.heldWrites, 0),
      overtakenWrites: all.reduce((n, s) => n + s.overtakenWrites, 0),
      duplicates: all.reduce((n, s) => n + s.duplicates, 0),
      writes: all.reduce((n, s) => n + s.writes, 0),
    };
  }

  async start(): Promise<HostInfo> {
    await this.spawn(0, 0);
    return this.host;
  }

  /** Sets the fault rate; with a rate above 0, arms this life's planned crash (counted from now). */
  async setFaults(rate: number): Promise<void> {
    this.rate = rate;
    await this.restarting;
    this.send({ type: 'faults', rate, crashAfterWrites: rate > 0 ? this.nextCrash() : 0 });
  }

  /** Waits while a crashed host is being started again. */
  async settled(): Promise<void> {
    while (this.restarting) await this.restarting;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.restarting?.catch(() => undefined);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.send({ type: 'stop' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }

  private nextCrash(): number {
    return this.options.crashPlan[this.crashes] ?? 0;
  }

  private send(message: ParentMessage): void {
    if (this.child?.connected) this.child.send(message);
  }

  private spawn(rate: number, crashAfterWrites: number): Promise<void> {
    const port = this.info?.port ?? 0;
    const args = [String(port), this.options.dataDir, String(this.options.seed + this.crashes), String(rate), String(crashAfterWrites)];
    const child = fork(entry, args, {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', this.options.logLevel ? 'inherit' : 'ignore', 'pipe', 'ipc'],
      env: {
        ...process.env,
        LOG_LEVEL: this.options.logLevel ?? 'silent',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        CHAOS_PUSHED_AGAIN: JSON.stringify(this.options.pushedAgain ?? []),
      },
    });
    this.child = child;
    this.current = { faults: 0, faultsAfterWrite: 0, slowWrites: 0, heldWrites: 0, overtakenWrites: 0, duplicates: 0, writes: 0 };
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
      if (this.options.logLevel) process.stderr.write(chunk);
    });
    return new Promise<void>((resolve, reject) => {
      child.on('message', (message: ChildMessage) => {
        if (message.type === 'ready') {
          this.info = message;
          resolve();
        } else if (message.type === 'stats') {
          this.current = message.stats;
        }
      });
      child.once('exit', (code, signal) => {
        if (this.child !== child) return;
        if (signal === 'SIGKILL' && !this.stopping && this.nextCrash() > 0) {
          this.crashes++;
          this.lifeStats.push(this.current);
          this.restarting = this.spawn(this.rate, this.rate > 0 ? this.nextCrash() : 0).finally(() => (this.restarting = undefined));
          this.restarting.catch((error: unknown) => (this.fatal = `the host did not start again after crash ${this.crashes}: ${String(error)}`));
          return;
        }
        if (!this.stopping) this.fatal = `the host exited unexpectedly (code ${code}, signal ${signal}): ${this.stderr.trim().split('\n').slice(-5).join(' | ')}`;
        reject(new Error(this.fatal ?? `the host exited (code ${code}) before it was ready: ${this.stderr}`));
      });
    });
  }
}
