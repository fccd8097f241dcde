/**
 * `npm run test:chaos`: a chaos run (chaos-run.ts) from the command line, printing one summary
 * line and every violation; exits 1 when there is any, so a failing seed can be replayed.
 *
 *   --rollouts N     notifications that each make a rollout (default 6)
 *   --devices N      simulated devices (default 60)
 *   --seed N         the plan's seed (default: random, printed)
 *   --fault-rate R   share of SDK calls that fail, 0–1 (default 0.05)
 *   --crashes N      host processes killed right after a write (default 3)
 *   --max-unavailable N  the policies' max_unavailable: paced rollouts (default: none)
 *   --revert-superseded  an admin rolls back the older rollout of each tag pushed again late
 *                    (off by default: it finds a violation not yet explained, see the README)
 *   --verbose        progress lines on stderr
 *   --host-logs      the host's warnings and errors too (many, by design: the faults)
 *   --keep           keep the data dir of a run with violations, to look at its table
 */
import { parseArgs } from 'node:util';
import { runChaos, summaryLine } from './chaos-run';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// Its pushes name made-up repositories: looking them up on Docker Hub would only add the network's faults.
process.env.DOCKER_HUB_MANIFEST_API_URL ??= 'off';
process.env.QUAY_MANIFEST_API_URL ??= 'off';

function usage(problem: string): never {
  process.stderr.write(`test:chaos: ${problem}\nusage: npm run test:chaos -- [--rollouts N] [--devices N] [--seed N] [--fault-rate R] [--crashes N] [--max-unavailable N] [--revert-superseded] [--verbose] [--host-logs] [--keep]\n`);
  process.exit(2);
}

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      rollouts: { type: 'string' },
      devices: { type: 'string' },
      seed: { type: 'string' },
      'fault-rate': { type: 'string' },
      crashes: { type: 'string' },
      'max-unavailable': { type: 'string' },
      'revert-superseded': { type: 'boolean' },
      verbose: { type: 'boolean' },
      'host-logs': { type: 'boolean' },
      keep: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  }));
} catch (error) {
  usage(error instanceof Error ? error.message : String(error));
}
if (values.help) usage('a chaos run of the embedded host; flags:');

function integer(name: string, fallback: number, min: number, max: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) usage(`--${name} must be a whole number from ${min} to ${max}, got "${String(raw)}"`);
  return value;
}

const rate = values['fault-rate'] === undefined ? 0.05 : Number(values['fault-rate']);
if (!Number.isFinite(rate) || rate < 0 || rate > 0.5) usage(`--fault-rate must be a number from 0 to 0.5, got "${String(values['fault-rate'])}"`);
const verbose = values.verbose === true;

const result = await runChaos({
  rollouts: integer('rollouts', 6, 1, 100),
  devices: integer('devices', 60, 1, 1000),
  seed: integer('seed', Math.floor(Math.random() * 1_000_000), 0, 2 ** 31 - 1),
  faultRate: rate,
  crashes: integer('crashes', 3, 0, 50),
  ...(values['max-unavailable'] !== undefined ? { maxUnavailable: integer('max-unavailable', 1, 1, 1000) } : {}),
  ...(values['revert-superseded'] ? { revertSuperseded: true } : {}),
  ...(verbose ? { log: (line: string) => process.stderr.write(`chaos: ${line}\n`) } : {}),
  ...(values['host-logs'] ? { hostLogLevel: 'warn' } : {}),
  ...(values.keep ? { keepOnViolation: true, log: (line: string) => process.stderr.write(`chaos: ${line}\n`) } : {}),
});
for (const violation of result.violations) process.stdout.write(`  ${violation}\n`);
process.stdout.write(`${summaryLine(result)}\n`);
process.exit(result.violations.length > 0 ? 1 : 0);
