#!/usr/bin/env node
/**
 * `fleet`, the operator's command line: `npm run cli -- …` from a checkout, or the one-file build
 * (`npm run build:cli`, dist/fleet.mjs) that package.json's `bin` names. `fleet --help` lists
 * the commands, the environment and the exit codes.
 */
import { run } from './program';

const controller = new AbortController();
const interrupt = () => {
  // A second Ctrl-C leaves at once.
  if (controller.signal.aborted) process.exit(130);
  controller.abort();
};
process.on('SIGINT', interrupt).on('SIGTERM', interrupt);
// A live view hides the cursor; whatever happens, leave the terminal with it showing.
if (process.stdout.isTTY) process.once('exit', () => process.stdout.write('\x1b[?25h'));

process.exitCode = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal });
