/**
 * How long the fuzz suites run. `npm test` runs the small defaults; the long run sets
 * `FUZZ_RUNS=100000 npm run test:fuzz`. `FUZZ_SEED` replays a failure with the seed fast-check
 * printed (and `FUZZ_PATH` with its path, to replay only the shrunk case).
 */
import type { Parameters } from 'fast-check';

function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

/** Runs asked for, or `fallback` when FUZZ_RUNS is not set. */
export function fuzzRuns(fallback: number): number {
  return positiveInteger('FUZZ_RUNS', fallback);
}

/** Whether FUZZ_RUNS asks for more than the default, i.e. the long run. */
export const longRun = process.env.FUZZ_RUNS !== undefined && process.env.FUZZ_RUNS !== '';

/** fast-check parameters: `numRuns`, plus the seed and path to replay when they are given. */
export function fuzzParameters<T>(numRuns: number): Parameters<T> {
  const seed = process.env.FUZZ_SEED;
  const path = process.env.FUZZ_PATH;
  return {
    numRuns,
    ...(seed !== undefined && seed !== '' ? { seed: Number(seed) } : {}),
    ...(path !== undefined && path !== '' ? { path } : {}),
  };
}

/** A test timeout for `runs` cases of about `msPerRun` each, never below vitest's default here. */
export function timeoutFor(runs: number, msPerRun: number): number {
  return Math.max(60_000, Math.ceil(runs * msPerRun) + 30_000);
}
