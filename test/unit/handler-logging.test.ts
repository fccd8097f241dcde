/**
 * The shared handler wrappers put the function's context and each record's or request's
 * correlation keys on its lines, and take them off again before the next one.
 */
import type { APIGatewayProxyEvent, Context, SQSEvent } from 'aws-lambda';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';

const lines: Record<string, unknown>[] = [];
let modules: {
  logger: typeof import('../../lib/logger').logger;
  sqsHandler: typeof import('../../lib/queues/consume').sqsHandler;
  apiHandler: typeof import('../../lib/http/api').apiHandler;
};

beforeAll(async () => {
  // As the embedded host sets them before a handler's module loads.
  process.env.LOG_FORMAT = 'json';
  process.env.LOG_LEVEL = 'info';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    const text = String(chunk);
    if (text.startsWith('{"level"')) return lines.push(JSON.parse(text)) > 0;
    return write(chunk, ...rest);
  }) as typeof process.stdout.write;
  modules = {
    logger: (await import('../../lib/logger')).logger,
    sqsHandler: (await import('../../lib/queues/consume')).sqsHandler,
    apiHandler: (await import('../../lib/http/api')).apiHandler,
  };
});

beforeEach(() => void lines.splice(0));

const context = (functionName: string, awsRequestId: string) =>
  ({ functionName, awsRequestId, invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`, memoryLimitInMB: '256' }) as Context;

const sqsEvent = (bodies: unknown[]): SQSEvent =>
  ({ Records: bodies.map((body, i) => ({ messageId: `m${i}`, body: JSON.stringify(body), attributes: {} })) }) as unknown as SQSEvent;

describe('a queue handler', () => {
  it("logs each record with its own rollout id, the function and the request, and nothing leaks into the next", async () => {
    const handler = modules.sqsHandler(z.object({ rollout_id: z.string().optional(), n: z.number() }), async (message) => {
      modules.logger.info('handled', { n: message.n });
      if (message.n === 2) throw new Error('boom');
    });
    const result = await handler(sqsEvent([{ rollout_id: 'ro-a', n: 1 }, { rollout_id: 'ro-b', n: 2 }, { n: 3 }]), context('batchAdvance', 'req-1'));
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
    expect(lines.map((l) => [l.message, l.rollout_id, l.function_name, l.function_request_id])).toEqual([
      ['handled', 'ro-a', 'batchAdvance', 'req-1'],
      ['handled', 'ro-b', 'batchAdvance', 'req-1'],
      ['message failed', 'ro-b', 'batchAdvance', 'req-1'],
      ['handled', undefined, 'batchAdvance', 'req-1'],
    ]);
    expect(lines[0]).toMatchObject({ level: 'INFO', service: 'fleet-rollout' });
    expect(typeof lines[0]!.cold_start).toBe('boolean');

    await handler(sqsEvent([{ n: 4 }]), context('batchAdvance', 'req-2'));
    expect(lines.at(-1)).toMatchObject({ message: 'handled', function_request_id: 'req-2' });
    expect(lines.at(-1)).not.toHaveProperty('rollout_id');
  });
});

describe('an HTTP handler', () => {
  const request = (resource: string, pathParameters: Record<string, string>) =>
    ({ httpMethod: 'POST', resource, path: resource, pathParameters, headers: {}, body: null, isBase64Encoded: false, queryStringParameters: null }) as unknown as APIGatewayProxyEvent;

  it('logs with the rollout and device its route names, also when it fails, and not on the next request', async () => {
    const handler = modules.apiHandler(
      {
        'POST /api/v1/rollouts/{rolloutId}/devices/{uuid}/rollback': async () => {
          modules.logger.info('rolling back');
          throw new Error('table is gone');
        },
        'POST /api/v1/policies': async () => {
          modules.logger.info('creating');
          return { status: 201 };
        },
      },
      { maxBodyBytes: 1024 },
    );
    const failed = await handler(request('/api/v1/rollouts/{rolloutId}/devices/{uuid}/rollback', { rolloutId: 'ro-c', uuid: 'dev-1' }), context('adminRollouts', 'req-3'));
    expect(failed.statusCode).toBe(500);
    await handler(request('/api/v1/policies', {}), context('adminPolicies', 'req-4'));
    expect(lines.map((l) => [l.message, l.rollout_id, l.device_uuid, l.function_name])).toEqual([
      ['rolling back', 'ro-c', 'dev-1', 'adminRollouts'],
      ['request failed', 'ro-c', 'dev-1', 'adminRollouts'],
      ['creating', undefined, undefined, 'adminPolicies'],
    ]);
  });
});
