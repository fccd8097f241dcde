/** What every command needs: the streams, the API client for the global flags, and output. */
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { adminClient, type AdminClient } from '../client/admin-client';
import type { Style } from '../client/render';
import { connection, type ConnectionFlags } from './settings';

export interface TerminalStream extends Writable {
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

/** The outside world of one run, passed in so that tests can run the CLI in-process. */
export interface Io {
  stdout: TerminalStream;
  stderr: Writable;
  env: Readonly<Record<string, string | undefined>>;
  /** Aborted by Ctrl-C: a watch stops waiting. */
  signal?: AbortSignal;
  /** Standard input, for `--file -`. */
  stdin?: () => Promise<string>;
}

export interface GlobalFlags extends ConnectionFlags {
  json?: boolean;
}

export interface Session {
  api: AdminClient;
  baseUrl: string;
  json: boolean;
  io: Io;
  /** The API's answer as it came with `--json`; otherwise the lines for people. */
  show(body: unknown, human: () => string[]): void;
}

export function session(io: Io, command: Command): Session {
  const flags = command.optsWithGlobals<GlobalFlags>();
  const { baseUrl, adminKey } = connection(flags, io.env);
  const json = flags.json === true;
  return {
    api: adminClient(baseUrl, adminKey),
    baseUrl,
    json,
    io,
    show(body, human) {
      if (json) {
        if (body !== undefined) io.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
      } else io.stdout.write(human().map((line) => `${line}\n`).join(''));
    },
  };
}

/** Colour only on a terminal, and not under NO_COLOR (https://no-color.org). */
export function styleOf(io: Io): Style {
  const color = io.stdout.isTTY === true && io.env.TERM !== 'dumb' && !io.env.NO_COLOR;
  return { color, width: io.stdout.isTTY && io.stdout.columns ? io.stdout.columns - 1 : Number.MAX_SAFE_INTEGER };
}

/** Ids go into paths as one segment, whatever they hold. */
export const segment = (id: string) => encodeURIComponent(id);
