#!/usr/bin/env node
/**
 * `fleet`, the operator's command line: `npm run cli -- …` from a checkout, or the one-file build
 * (`npm run build:cli`, dist/fleet.mjs) that package.json's `bin` names. `fleet --help` lists
 * the commands, the environment and the exit codes.
 */
import { interruptSignal } from '../client/live-output';
import { run } from './program';

process.exitCode = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: interruptSignal() });
