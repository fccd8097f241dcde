/**
 * The part of the Lambda runtime the embedded host needs: load a function's module the way a
 * cold start does, build its Context, and run one invocation within the function's timeout.
 *
 * Each function sees only its own environment, as on AWS: the variables of what the manifest
 * grants it (lib/environment.ts `functionEnvironment`), put in the InvokeStore context its module
 * loads in and each of its invocations runs in, where lib/config.ts reads them (`environment()`).
 * So a function that sends to a queue its `sendsTo` does not list, or touches the table without
 * `table`, fails here as it would on AWS, and config is cached per function.
 *
 * Deviations from Lambda, all because every function shares this one Node.js process:
 * - All functions share one module registry, one set of SDK clients and one logger; on AWS each
 *   function has its own sandbox. The clients reach the same emulators whichever function calls,
 *   so only the table name, queue URLs, secrets and schedule settings differ, and those are per
 *   function. What remains open: `process.env` itself is the host's, holding every grant for code
 *   outside any function (the host's setup, tests); handler code that escapes its invocation's
 *   async context (a callback registered outside it) or reads `process.env` directly would see
 *   it. lib/ reads its variables only through `environment()`, and no handler reads `process.env`.
 *   IAM is not emulated either: the grants decide what a function can find, not what it may do.
 * - A timed-out invocation is reported as failed at the deadline (as Lambda does), but its
 *   promise cannot be frozen or killed, so its remaining work still runs in the background.
 * - Invocations are not serialised per sandbox: concurrent invocations of one function run
 *   interleaved in one module instance, like Lambda instances that happen to share memory. As
 *   Lambda does for a function with several invocations per instance, each runs in its own
 *   InvokeStore context (AWS_LAMBDA_MAX_CONCURRENCY, set by the host), where Powertools keeps
 *   its per-invocation log keys; so one invocation's request id or rollout id is never on
 *   another's lines. Cold start is per process, not per function: only the first invocation has it.
 */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvokeStore, InvokeStoreBase } from '@aws/lambda-invoke-store';
import type { Context } from 'aws-lambda';
import { functionEnvironmentKey, type Environment } from '../../lib/environment';
import type { FunctionSpec } from '../manifest';
import type { Logger } from './logger';
import { accountId, region } from './aws-identity';

export type LambdaHandler = (event: unknown, context: Context) => unknown;

export interface LoadedFunction {
  name: string;
  spec: FunctionSpec;
  /** The function's own variables, as the CDK stack would set them. */
  environment: Environment;
  handler: LambdaHandler;
  /** Told of each invocation once it ends (the host's `onInvocation`); must not throw. */
  onInvocation?: InvocationObserver;
}

/** What Lambda would bill and report for one invocation: its duration at its memory, and how it ended. */
export interface InvocationRecord {
  function: string;
  durationMs: number;
  memoryMb: number;
  outcome: 'ok' | 'error' | 'timeout';
}

export type InvocationObserver = (record: InvocationRecord) => void;

/**
 * Imports `spec.entry` (relative to the repository root) and takes its `handler` export; or, when
 * `modulePath` is given, that file instead: the bundle `cdk synth` built for the function, so a
 * test can run the very artifact that deploys. The module loads in the function's own
 * environment, as a cold start does, so what it checks at module scope (`requireConfig`) it
 * checks against what the function is granted; a failure names the function.
 */
export async function loadFunction(
  repoRoot: string,
  name: string,
  spec: FunctionSpec,
  environment: Environment,
  modulePath?: string,
  onInvocation?: InvocationObserver,
): Promise<LoadedFunction> {
  const file = modulePath ?? resolve(repoRoot, spec.entry);
  const { store } = await invokeStore();
  let module: { handler?: unknown };
  try {
    module = await store.run({ [functionEnvironmentKey]: environment }, () => import(pathToFileURL(file).href));
  } catch (error) {
    throw new Error(`function ${name}: cold start failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (typeof module.handler !== 'function') {
    throw new Error(`function ${name}: ${file} does not export a handler function`);
  }
  return { name, spec, environment, handler: module.handler as LambdaHandler, ...(onInvocation ? { onInvocation } : {}) };
}

/** Handler runs not finished yet, including those past their timeout (see the deviations above). */
const unfinished = new Set<Promise<unknown>>();

/**
 * Waits for every handler run still going, at most `maxMs`: the host calls this before it closes
 * the emulators, so that work past its timeout does not write to a closed database.
 */
export async function settleInvocations(maxMs: number): Promise<void> {
  if (unfinished.size === 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.allSettled([...unfinished]), new Promise((resolve) => (timer = setTimeout(resolve, maxMs)))]);
  clearTimeout(timer);
}

/**
 * The store Lambda keeps each invocation's context in when an instance runs several at once
 * (an AsyncLocalStorage). Asked for as this module loads, before the host's first SDK call: the
 * SDK asks for the store too, and the first to ask decides its kind for the whole process.
 */
const store = InvokeStore.getInstanceAsync(true);

/**
 * The store, once ready; the host awaits it before it sets AWS_LAMBDA_MAX_CONCURRENCY, with which
 * Powertools refuses to log unless the store exists. `scoped` is false when something in this
 * process made a single-context store first: then concurrent invocations share their log keys.
 */
export async function invokeStore(): Promise<{ store: InvokeStoreBase; scoped: boolean }> {
  const ready = await store;
  const probe = Symbol('probe');
  ready.run({ [probe]: true }, () => undefined);
  return { store: ready, scoped: ready.get(probe) === undefined };
}

class FunctionTimeout extends Error {
  override name = 'FunctionTimeout';
}

function lambdaContext(fn: LoadedFunction, requestId: string, deadline: number): Context {
  const unsupported = () => {
    throw new Error('context.done/succeed/fail are not supported: return a promise from the handler');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: fn.name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${accountId}:function:${fn.name}`,
    memoryLimitInMB: String(fn.spec.memoryMb),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${fn.name}`,
    logStreamName: `${new Date().toISOString().slice(0, 10).replaceAll('-', '/')}/[$LATEST]embedded`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    succeed: unsupported,
    fail: unsupported,
  };
}

/**
 * One invocation: resolves with the handler's result, rejects with its error or with
 * FunctionTimeout after `timeoutSeconds`. The error is logged here, once, as the Lambda runtime
 * writes it to the function's log; callers only decide what the failure means for their trigger.
 * The function's observer hears of every invocation here too, so no trigger has to report its own.
 */
export async function invoke(fn: LoadedFunction, event: unknown, logger: Logger): Promise<unknown> {
  const requestId = randomUUID();
  const started = Date.now();
  const timeoutMs = fn.spec.timeoutSeconds * 1000;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new FunctionTimeout(`Task timed out after ${fn.spec.timeoutSeconds.toFixed(2)} seconds`)),
      timeoutMs,
    );
  });
  const { store } = await invokeStore();
  const invocation = { [InvokeStoreBase.PROTECTED_KEYS.REQUEST_ID]: requestId, [functionEnvironmentKey]: fn.environment };
  const run = (async () => store.run(invocation, () => fn.handler(event, lambdaContext(fn, requestId, started + timeoutMs))))();
  unfinished.add(run);
  void run.catch(() => undefined).finally(() => unfinished.delete(run));
  const ended = (outcome: InvocationRecord['outcome']) =>
    fn.onInvocation?.({ function: fn.name, durationMs: Date.now() - started, memoryMb: fn.spec.memoryMb, outcome });
  try {
    const result = await Promise.race([run, timedOut]);
    logger.debug(`invoked ${fn.name}`, { requestId, durationMs: Date.now() - started });
    ended('ok');
    return result;
  } catch (error) {
    logger.error(`${fn.name} failed`, { requestId, durationMs: Date.now() - started, error });
    ended(error instanceof FunctionTimeout ? 'timeout' : 'error');
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
