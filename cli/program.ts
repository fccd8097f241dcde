/**
 * The `fleet` command line: the command groups under one program, and how each way of ending maps
 * to an exit code (see exit-codes.ts). `run` takes its streams and environment as arguments, so
 * it runs the same in `main.ts` and in a test.
 */
import { Command, CommanderError } from 'commander';
import packageJson from '../package.json' with { type: 'json' };
import { ApiError, unreachableCause } from '../client/admin-client';
import { adminKeyCommands } from './commands/admin-keys';
import { deviceCommands } from './commands/devices';
import { policyCommands } from './commands/policies';
import { provisioningKeyCommands } from './commands/provisioning-keys';
import { registryCommands } from './commands/registries';
import { rolloutCommands } from './commands/rollouts';
import { exitCodes, Interrupted, RolloutNotCompleted, UsageError } from './exit-codes';
import type { GlobalFlags, Io } from './session';
import { baseUrlOf } from './settings';

const epilog = `
Environment:
  FLEET_API_URL     the API's base URL, e.g. http://127.0.0.1:3001 (with or without /api/v1)
  FLEET_ADMIN_KEY   an admin API key (npm start prints one and keeps it in .data/admin-api-key)

Exit codes:
  0  done (rollouts watch: the rollout completed)
  1  the API refused the request (its message is printed), or it failed
  2  usage: a wrong command line, file or missing setting; nothing was sent
  3  the API could not be reached
  4  rollouts watch: the rollout paused
  5  rollouts watch: the rollout failed, was cancelled or rolled back
`;

export function buildProgram(io: Io): Command {
  const program = new Command('fleet')
    .description('Steer fleet-rollout over its HTTP API: rollouts, policies, devices, provisioning keys, admin keys, registries.')
    .version(packageJson.version)
    .option('--api-url <url>', "the API's base URL (default: FLEET_API_URL)")
    .option('--admin-key <key>', 'an admin API key (default: FLEET_ADMIN_KEY)')
    .option('--json', "print the API's JSON answers unchanged, for scripts")
    .addHelpText('after', epilog);
  for (const group of [rolloutCommands(io), policyCommands(io), deviceCommands(io), provisioningKeyCommands(io), adminKeyCommands(io), registryCommands(io)]) program.addCommand(group);
  configure(program, io);
  return program;
}

/** Commander's own exits become errors `run` maps to exit codes; its output goes to our streams. */
function configure(command: Command, io: Io, path = command.name()): void {
  command
    .exitOverride()
    .configureOutput({ writeOut: (text) => void io.stdout.write(text), writeErr: (text) => void io.stderr.write(text) })
    .showHelpAfterError(`(${path} --help says more)`);
  for (const sub of command.commands) configure(sub, io, `${path} ${sub.name()}`);
}

/** Runs one command line (without `node` and the script) and returns the exit code. */
export async function run(argv: string[], io: Io): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCodes.ok;
  } catch (error) {
    return failed(error, io, program);
  }
}

function failed(error: unknown, io: Io, program: Command): number {
  const say = (message: string) => io.stderr.write(`fleet: ${message}\n`);
  if (error instanceof CommanderError) {
    // Help and --version end with exit code 0; anything else commander refused it has printed.
    return error.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
  }
  if (error instanceof RolloutNotCompleted) return error.code;
  if (error instanceof UsageError) {
    say(error.message);
    return exitCodes.usage;
  }
  if (error instanceof ApiError) {
    say(error.error ? `${error.error.message} (${error.status} ${error.error.code})` : error.message);
    return exitCodes.refused;
  }
  if (error instanceof Interrupted) return exitCodes.interrupted;
  const cause = unreachableCause(error);
  if (cause) {
    say(`cannot reach the API at ${apiUrlOf(program, io) ?? 'FLEET_API_URL'}: ${cause}`);
    return exitCodes.unreachable;
  }
  say(`unexpected failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  return exitCodes.refused;
}

function apiUrlOf(program: Command, io: Io): string | undefined {
  const url = program.opts<GlobalFlags>().apiUrl ?? io.env.FLEET_API_URL;
  try {
    return url ? baseUrlOf(url) : undefined;
  } catch {
    return url;
  }
}
