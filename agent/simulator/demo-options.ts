/** The demo's command line: options, their checks, and the help text. */
import { parseArgs } from 'node:util';

export interface DemoOptions {
  /** Simulated devices, each on its own loopback address. */
  devices: number;
  /** Share of devices (0–1) whose health endpoint fails on the new image. */
  fail: number;
  /** Staged batches (the policy's `staged_batches`). */
  batches: number;
  /** Seconds between a batch completing and the next starting. */
  delaySeconds: number;
  /** Failure rate above which the rollout pauses itself. */
  maxFailureRate: number;
  /** Picks the unhealthy devices at random, the same for the same seed; otherwise they are spread evenly. */
  seed?: number;
  /** Plain lines instead of a live view, even on a terminal. */
  plain?: boolean;
  /**
   * Seconds the host stays up once the rollout has ended, so that the dashboard and
   * `fleet rollouts watch` in another terminal see the end too. Default 0 (the command line's is 5).
   */
  lingerSeconds?: number;
  /** How often each device polls its target state. Default 300 ms. */
  pollMs?: number;
  /** The host's tick period. Default 1 s. */
  tickSeconds?: number;
  /** Stops the demo cleanly (Ctrl-C). */
  signal?: AbortSignal;
}

export const defaultOptions = { devices: 30, fail: 0.1, batches: 3, delaySeconds: 3, maxFailureRate: 0.3, lingerSeconds: 5 } as const;

/** Each device needs its own loopback address and health server. */
export const maxDevices = 250;

export const usage = `npm run demo -- [options]

Runs the whole system in this process: the embedded host (in memory), a simulated fleet whose
devices each serve a real HTTP health endpoint on their own loopback address (127.0.1.x), a
staged policy with an HTTP health check and auto-rollback, and a Docker Hub push of a new image
on which some devices are unhealthy. Shows the rollout live until it ends, then a summary.

Options
  --devices N             simulated devices, 1-${maxDevices} (default ${defaultOptions.devices})
  --fail SHARE            share of devices unhealthy on the new image, 0-1 (default ${defaultOptions.fail})
  --batches N             staged batches, 1-10 (default ${defaultOptions.batches}: 10% -> 50% -> 100%)
  --delay SECONDS         wait between batches (default ${defaultOptions.delaySeconds})
  --max-failure-rate R    share of failed devices above which the rollout pauses, 0-1 (default ${defaultOptions.maxFailureRate})
  --seed N                pick the unhealthy devices at random, the same for the same N
                          (default: spread evenly through the batches)
  --linger SECONDS        keep the host up this long after the rollout ends, for the dashboard
                          and \`fleet rollouts watch\` in another terminal (default ${defaultOptions.lingerSeconds})
  --plain                 plain lines instead of a live view, even on a terminal
  -h, --help              show this help

Output piped to a file or another program is plain lines; NO_COLOR turns colours off.
LOG_LEVEL=warn shows the handlers' own log lines (off by default, they would garble the view).
On macOS only 127.0.0.1 exists until you add aliases, e.g. for 30 devices:
  for i in $(seq 1 30); do sudo ifconfig lo0 alias 127.0.1.$i up; done
`;

export class UsageError extends Error {
  override name = 'UsageError';
}

/** What is wrong with the options, in the words of the command line; empty when nothing is. */
export function optionProblems(options: DemoOptions): string[] {
  const problems: string[] = [];
  const { devices, fail, batches, delaySeconds, maxFailureRate, seed, lingerSeconds = 0 } = options;
  if (!Number.isInteger(devices) || devices < 1 || devices > maxDevices) problems.push(`--devices must be a whole number from 1 to ${maxDevices}`);
  if (!(fail >= 0 && fail <= 1)) problems.push('--fail must be a share from 0 to 1, e.g. 0.1');
  if (!Number.isInteger(batches) || batches < 1 || batches > 10) problems.push('--batches must be a whole number from 1 to 10');
  if (!(delaySeconds >= 0 && delaySeconds <= 3600)) problems.push('--delay must be a number of seconds from 0 to 3600');
  if (!(maxFailureRate >= 0 && maxFailureRate <= 1)) problems.push('--max-failure-rate must be a share from 0 to 1, e.g. 0.3');
  if (seed !== undefined && !Number.isSafeInteger(seed)) problems.push('--seed must be a whole number');
  if (!(lingerSeconds >= 0 && lingerSeconds <= 3600)) problems.push('--linger must be a number of seconds from 0 to 3600');
  return problems;
}

/** Parses the command line; throws a UsageError that says what to fix. */
export function parseDemoArgs(argv: string[]): { help: true } | { help: false; options: DemoOptions } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        devices: { type: 'string' },
        fail: { type: 'string' },
        batches: { type: 'string' },
        delay: { type: 'string' },
        'max-failure-rate': { type: 'string' },
        seed: { type: 'string' },
        linger: { type: 'string' },
        plain: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message.split('. ')[0]! : String(error));
  }
  if (values.help) return { help: true };
  const number = (raw: string | undefined, fallback: number) => (raw === undefined ? fallback : raw.trim() === '' ? NaN : Number(raw));
  const options: DemoOptions = {
    devices: number(values.devices, defaultOptions.devices),
    fail: number(values.fail, defaultOptions.fail),
    batches: number(values.batches, defaultOptions.batches),
    delaySeconds: number(values.delay, defaultOptions.delaySeconds),
    maxFailureRate: number(values['max-failure-rate'], defaultOptions.maxFailureRate),
    lingerSeconds: number(values.linger, defaultOptions.lingerSeconds),
    ...(values.seed !== undefined ? { seed: number(values.seed, NaN) } : {}),
    ...(values.plain ? { plain: true } : {}),
  };
  const problems = optionProblems(options);
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
  return { help: false, options };
}
