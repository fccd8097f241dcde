/**
 * What the agent remembers across restarts, in its state dir: the device uuid and token, the
 * ETag and version of the target state it last acted on, and its last report (sent or not).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import type { StateReport } from './protocol';

export interface AgentState {
  etag?: string;
  target_version?: number;
  last_report?: StateReport;
  /** When the last report reached the server (ms since epoch); absent while one is still owed. */
  reported_at?: number;
}

export interface StateStore {
  load(): AgentState;
  save(state: AgentState): void;
}

export class MemoryStateStore implements StateStore {
  constructor(private state: AgentState = {}) {}
  load(): AgentState {
    return structuredClone(this.state);
  }
  save(state: AgentState): void {
    this.state = structuredClone(state);
  }
}

/** Writes a file so a crash leaves either the old content or the new, never half: temp, fsync, rename. */
export function writeFileDurably(path: string, content: string, mode = 0o600): void {
  const temp = `${path}.tmp`;
  writeFileSync(temp, content, { mode });
  const fd = openSync(temp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
}

export function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export class FileStateStore implements StateStore {
  private readonly file: string;
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = join(dir, 'state.json');
  }
  load(): AgentState {
    const text = readOptional(this.file);
    if (!text) return {};
    try {
      return JSON.parse(text) as AgentState;
    } catch {
      // A state file we cannot read costs one full poll and report, nothing more.
      return {};
    }
  }
  save(state: AgentState): void {
    writeFileDurably(this.file, JSON.stringify(state));
  }
}
