/**
 * Where a live rollout view goes (the demo's, `fleet rollouts watch`). On a terminal it is redrawn
 * in place; anywhere else (a pipe, a file, a test's stream, `--plain`) it becomes plain lines
 * printed as things happen: new events, and a batch's progress at most once a second. NO_COLOR
 * turns colours off either way.
 */
import type { Writable } from 'node:stream';
import {
  batchLine,
  elapsed,
  eventLine,
  failureLine,
  fleetLines,
  paint,
  policyLines,
  watchLines,
  renderLive,
  titleLine,
  reachedOf,
  type LiveView,
  type Style,
} from './render';

export interface LiveOutput {
  readonly style: Style;
  /** Shows the current state. */
  update(view: LiveView): void;
  /** Ends the live part with this last state; what is printed next goes below it. Idempotent. */
  finish(view: LiveView): void;
  /** Prints lines below the live part. */
  print(lines: string[]): void;
}

interface TerminalStream extends Writable {
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

export function liveOutput(stream: Writable, options: { plain?: boolean } = {}): LiveOutput {
  const terminal = stream as TerminalStream;
  const interactive = terminal.isTTY === true && process.env.TERM !== 'dumb';
  // https://no-color.org: present and not empty.
  const color = interactive && !process.env.NO_COLOR;
  if (interactive && !options.plain) return new Redrawn(terminal, color);
  return new Narrated(stream, { color, width: Number.MAX_SAFE_INTEGER });
}

/** Redraws the view in place: up to the first line of the last frame, clear, write. */
class Redrawn implements LiveOutput {
  private height = 0;
  private done = false;

  constructor(
    private readonly stream: TerminalStream,
    private readonly color: boolean,
  ) {
    stream.write('\x1b[?25l');
  }

  get style(): Style {
    // One column spare: a line filling the width would make some terminals wrap early.
    return { color: this.color, width: Math.max(40, (this.stream.columns || 80) - 1) };
  }

  update(view: LiveView): void {
    if (this.done) return;
    const rows = this.stream.rows || 24;
    let events = 6;
    let lines = renderLive(this.style, view, events);
    while (lines.length >= rows && events > 0) lines = renderLive(this.style, view, --events);
    lines = lines.slice(0, rows - 1);
    const up = this.height > 0 ? `\x1b[${this.height}F` : '';
    this.stream.write(`${up}\x1b[J${lines.join('\n')}\n`);
    this.height = lines.length;
  }

  finish(view: LiveView): void {
    if (this.done) return;
    this.update(view);
    this.done = true;
    this.stream.write('\x1b[?25h');
  }

  print(lines: string[]): void {
    this.stream.write(`${lines.join('\n')}\n`);
  }
}

/**
 * Prints what changed as plain lines: events with their time, and under them, without one, a
 * batch's progress when its counts change (at most once a second while it runs).
 */
class Narrated implements LiveOutput {
  private readonly shown = new Set<string>();
  private phase: string | undefined;
  private readonly batches = new Map<number, { key: string; status: string; at: number }>();
  private failures = 0;
  private notes = new Set<string>();
  private done = false;

  constructor(
    private readonly stream: Writable,
    readonly style: Style,
  ) {}

  update(view: LiveView, force = false): void {
    if (this.done) return;
    const lines: string[] = [];
    const once = (key: string, line: string) => {
      if (!this.shown.has(key)) lines.push(line);
      this.shown.add(key);
    };
    const indent = ' '.repeat(elapsed(0).length + 2);
    once('title', titleLine(this.style, view));
    if (view.fleet) once('fleet', fleetLines(this.style, view.fleet).join('\n'));
    if (view.policy) once('policy', policyLines(this.style, view.policy).join('\n'));
    if (view.watch) once('watch', watchLines(this.style, view.watch).join('\n'));
    if (!view.detail && view.phase && view.phase !== this.phase) lines.push(`${paint(this.style, 'dim', elapsed(view.now - view.startedAt))}  ${view.phase}…`);
    this.phase = view.phase;
    for (const event of view.events) once(event.id, eventLine(this.style, event, view.names, view.startedAt));
    const detail = view.detail;
    if (detail) {
      for (const batch of detail.rollout.batches) {
        const key = `${batch.status} ${JSON.stringify(batch.counts)}`;
        const last = this.batches.get(batch.number);
        // Nothing to show yet but a countdown, or a bar with nothing in it.
        if (batch.status === 'pending' || reachedOf(batch.counts) === 0 || last?.key === key) continue;
        if (last && last.status === batch.status && !force && view.now - last.at < 1000) continue;
        this.batches.set(batch.number, { key, status: batch.status, at: view.now });
        lines.push(indent + batchLine(this.style, batch, detail.rollout, view.now));
      }
      const { failed, rolled_back } = detail.statistics;
      if (failed + rolled_back !== this.failures) {
        this.failures = failed + rolled_back;
        lines.push(indent + failureLine(this.style, detail.statistics, detail.rollout.policy.max_failure_rate));
      }
    }
    for (const note of view.notes) if (!this.notes.has(note)) lines.push(indent + paint(this.style, 'yellow', note));
    this.notes = new Set(view.notes);
    if (lines.length > 0) this.stream.write(`${lines.join('\n')}\n`);
  }

  finish(view: LiveView): void {
    this.update(view, true);
    this.done = true;
  }

  print(lines: string[]): void {
    this.stream.write(`${lines.join('\n')}\n`);
  }
}

/**
 * For a process showing a live view: an abort signal that the first Ctrl-C (or SIGTERM) raises,
 * so the view can stop cleanly, while a second one leaves at once; and, whatever happens, the
 * terminal is left with its cursor showing.
 */
export function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  const interrupt = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', interrupt).on('SIGTERM', interrupt);
  if (process.stdout.isTTY) process.once('exit', () => process.stdout.write('\x1b[?25h'));
  return controller.signal;
}
