/**
 * What `fleet` exits with, so that scripts can tell a refused request from a typo, a server that
 * is down, and a rollout that did not make it. The README lists the same codes.
 */
export const exitCodes = {
  ok: 0,
  /** The API answered with an error (4xx, 5xx): its message is on stderr. */
  refused: 1,
  /** The command line (or a file it names, or a missing setting) was wrong; nothing was sent. */
  usage: 2,
  /** The API could not be reached at all. */
  unreachable: 3,
  /** `rollouts watch`: the rollout paused (it can be resumed). */
  paused: 4,
  /** `rollouts watch`: the rollout ended without completing: failed, cancelled or rolled back. */
  notCompleted: 5,
  /** Ctrl-C. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof exitCodes)[keyof typeof exitCodes];

/** A mistake in what the user asked for, found before anything is sent. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The watched rollout ended other than completed; what it says has been printed already. */
export class RolloutNotCompleted extends Error {
  override name = 'RolloutNotCompleted';

  constructor(
    readonly status: string,
    readonly code: ExitCode,
  ) {
    super(`the rollout ended ${status}`);
  }
}

/** Ctrl-C while a command waits. */
export class Interrupted extends Error {
  override name = 'Interrupted';
}

/** The exit code of a watch that saw the rollout end in `status`. */
export function watchExitCode(status: string): ExitCode {
  if (status === 'completed') return exitCodes.ok;
  if (status === 'paused') return exitCodes.paused;
  return exitCodes.notCompleted;
}
