/**
 * The part of the Lambda runtime the embedded host needs: load a function's module the way a
 * cold start does, build its Context, and run one invocation within the function's timeout.
 *
 * Deviations from Lambda, all because every function shares this one Node.js process:
 * - All functions share one module registry, one `process.env` and one set of SDK clients; on
 *   AWS each function has its own sandbox and sees only the queue URLs its `sendsTo` grants.
 * - A timed-out invocation is reported as failed at the deadline (as Lambda does), but its
 *   promise cannot be frozen or killed, so its remaining work still runs in the background.
 * - Invocations are not serialised per sandbox: concurrent invocations of one function run
 *   interleaved in one module instance, like Lambda instances that happen to share memory.
 */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import type { FunctionSpec } from '../manifest';
import type { Logger } from './logger';
import { accountId, region } from './aws-identity';

export type LambdaHandler = (event: unknown, context: Context) => unknown;

export interface LoadedFunction {
  name: string;
  spec: FunctionSpec;
  handler: LambdaHandler;
}

/**
 * Imports `spec.entry` (relative to the repository root) and takes its `handler` export; or, when
 * `modulePath` is given, that file instead: the bundle `cdk synth` built for the function, so a
 * test can run the very artifact that deploys.
 */
export async function loadFunction(repoRoot: string, name: string, spec: FunctionSpec, modulePath?: string): Promise<LoadedFunction> {
  const file = modulePath ?? resolve(repoRoot, spec.entry);
  const module: { handler?: unknown } = await import(pathToFileURL(file).href);
  if (typeof module.handler !== 'function') {
    throw new Error(`function ${name}: ${file} does not export a handler function`);
  }
  return { name, spec, handler: module.handler as LambdaHandler };
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
  const run = (async () => fn.handler(event, lambdaContext(fn, requestId, started + timeoutMs)))();
  unfinished.add(run);
  void run.catch(() => undefined).finally(() => unfinished.delete(run));
  try {
    const result = await Promise.race([run, timedOut]);
    logger.debug(`invoked ${fn.name}`, { requestId, durationMs: Date.now() - started });
    return result;
  } catch (error) {
    logger.error(`${fn.name} failed`, { requestId, durationMs: Date.now() - started, error });
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
