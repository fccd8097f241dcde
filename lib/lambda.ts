/**
 * What every function's handler starts from: middy with Powertools' `injectLambdaContext`, so
 * each line names the function, the request id and whether it was a cold start, and keys
 * appended during an invocation are gone before the next one; and Powertools' `logMetrics`, which
 * flushes the invocation's metrics (./metrics) as one EMF document when it ends, returns or throws.
 * `throwOnEmptyMetrics` stays off: most invocations (a device's poll) record none, and write nothing.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Context } from 'aws-lambda';
import { logger } from './logger';
import { metrics } from './metrics';

export function lambdaHandler<TEvent, TResult>() {
  return middy<TEvent, TResult, Error, Context>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { throwOnEmptyMetrics: false }));
}

/** The correlation keys of a message or request: which rollout and which device it is about. */
export function correlationKeys(source: Record<string, unknown> | null | undefined): { rollout_id?: string; device_uuid?: string } {
  const pick = (...names: string[]) => names.map((name) => source?.[name]).find((value): value is string => typeof value === 'string' && value !== '');
  const rolloutId = pick('rollout_id', 'rolloutId');
  const deviceUuid = pick('device_uuid', 'uuid');
  return { ...(rolloutId ? { rollout_id: rolloutId } : {}), ...(deviceUuid ? { device_uuid: deviceUuid } : {}) };
}
