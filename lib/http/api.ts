/**
 * The one middleware stack every HTTP function uses: it turns an API Gateway (REST, v1 proxy)
 * event into a small request object, dispatches on the route, and maps errors to JSON responses
 * once. A client's mistake is a 4xx naming the problem; anything else is a 500 without detail.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { z } from 'zod';
import { ClientError, Invalid, NotFound, PayloadTooLarge, TooManyRequests, UnsupportedMediaType } from '../errors';
import { correlationKeys, lambdaHandler } from '../lambda';
import { logger } from '../logger';
import { validate } from '../validation';

export interface ApiRequest {
  method: string;
  /** The route template, e.g. `/api/v1/devices/{uuid}`. */
  resource: string;
  path: string;
  params: Record<string, string>;
  query: Record<string, string | undefined>;
  /** Every value of each query parameter, for one that may be repeated (`?label=a:1&label=b:2`). */
  queryValues: Record<string, string[] | undefined>;
  /** Header names lower-cased. */
  headers: Record<string, string | undefined>;
  rawBody: string;
  /**
   * Where the caller reached the API, e.g. `https://abc.execute-api.eu-west-1.amazonaws.com/prod`
   * or `http://127.0.0.1:3001`: for answers that show an absolute URL of ours. Undefined when the
   * request names no host.
   */
  baseUrl: string | undefined;
  /** The JSON body, validated against `schema`. */
  json<T>(schema: z.ZodType<T>): T;
}

export interface ApiResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type RouteHandler = (request: ApiRequest) => Promise<ApiResponse>;

export interface ApiOptions {
  /** Bodies larger than this are refused with 413 before anything is parsed. */
  maxBodyBytes: number;
}

/**
 * A copy of one of the event's maps on a null-prototype object: the names are the client's, and
 * one such as `__proto__` or `constructor` must stay a name rather than reach Object.prototype.
 */
function nameMap<T>(source: Record<string, T> | null | undefined, name: (key: string) => string = (key) => key): Record<string, T> {
  const map = Object.create(null) as Record<string, T>;
  for (const [key, value] of Object.entries(source ?? {})) map[name(key)] = value;
  return map;
}

function lowerCaseHeaders(headers: APIGatewayProxyEvent['headers'] | null): Record<string, string | undefined> {
  return nameMap(headers, (name) => name.toLowerCase());
}

/**
 * Path parameters are ids, and no id is this long; DynamoDB would refuse such a key (2 KB at
 * most) with an error, so it is answered as what it is: a path that names nothing.
 */
const maxPathParameterBytes = 256;

function pathParameters(event: APIGatewayProxyEvent): Record<string, string> {
  const params = nameMap<string>({});
  for (const [name, value = ''] of Object.entries(event.pathParameters ?? {})) {
    if (Buffer.byteLength(value, 'utf8') > maxPathParameterBytes) {
      throw new NotFound(`${name} is longer than ${maxPathParameterBytes} bytes, so nothing has it as its id`);
    }
    params[name] = value;
  }
  return params;
}

/**
 * The scheme, host and path prefix the caller used. On API Gateway's own `execute-api` host the
 * stage is the first path segment (event.path leaves it out); on any other host (a custom domain
 * mapped at its root, the embedded host) the API starts at the root.
 */
function baseUrlOf(event: APIGatewayProxyEvent, headers: Record<string, string | undefined>): string | undefined {
  const host = headers.host ?? event.requestContext?.domainName;
  if (!host || !/^[A-Za-z0-9.-]+(?::\d+)?$|^\[[0-9a-fA-F:]+\](?::\d+)?$/.test(host)) return undefined;
  const scheme = headers['x-forwarded-proto'] === 'http' ? 'http' : 'https';
  const stage = event.requestContext?.stage;
  const onStage = stage && /\.execute-api\./.test(host) ? `/${encodeURIComponent(stage)}` : '';
  return `${scheme}://${host}${onStage}`;
}

function toRequest(event: APIGatewayProxyEvent, options: ApiOptions): ApiRequest {
  const rawBody = event.body ? (event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body) : '';
  if (Buffer.byteLength(rawBody, 'utf8') > options.maxBodyBytes) {
    throw new PayloadTooLarge(`body is larger than ${options.maxBodyBytes} bytes`);
  }
  const headers = lowerCaseHeaders(event.headers);
  return {
    method: event.httpMethod,
    resource: event.resource,
    path: event.path,
    params: pathParameters(event),
    query: nameMap(event.queryStringParameters),
    // API Gateway fills both maps; a single value stands in for a list where the other is missing.
    queryValues: nameMap<string[] | undefined>(
      event.multiValueQueryStringParameters ?? Object.fromEntries(Object.entries(event.queryStringParameters ?? {}).map(([name, value]) => [name, value === undefined ? undefined : [value]])),
    ),
    headers,
    rawBody,
    baseUrl: baseUrlOf(event, headers),
    json<T>(schema: z.ZodType<T>): T {
      const type = headers['content-type'];
      if (type && !/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
        throw new UnsupportedMediaType(`content-type must be application/json, got "${type}"`);
      }
      let parsed: unknown;
      try {
        parsed = rawBody === '' ? {} : JSON.parse(rawBody);
      } catch {
        throw new Invalid('body is not valid JSON');
      }
      return validate(schema, parsed);
    },
  };
}

const securityHeaders = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};

export function toResult(response: ApiResponse): APIGatewayProxyResult {
  return {
    statusCode: response.status,
    headers: { ...securityHeaders, ...response.headers },
    body: response.body === undefined ? '' : JSON.stringify(response.body),
  };
}

export function errorResult(error: unknown): APIGatewayProxyResult {
  if (error instanceof ClientError) {
    return toResult({
      status: error.statusCode,
      body: { error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) } },
      ...(error.statusCode === 401 ? { headers: { 'www-authenticate': 'Bearer' } } : {}),
      ...(error instanceof TooManyRequests ? { headers: { 'retry-after': String(error.retryAfterSeconds) } } : {}),
    });
  }
  logger.error('request failed', { error });
  return toResult({ status: 500, body: { error: { code: 'internal_error', message: 'internal error' } } });
}

/** A Lambda handler serving `routes`, keyed `METHOD /route/{template}`. */
export function apiHandler(routes: Record<string, RouteHandler>, options: ApiOptions) {
  return lambdaHandler<APIGatewayProxyEvent, APIGatewayProxyResult>()
    // The route's rollout and device ({rolloutId}, {uuid}) on every line of the request, including
    // a failure's; injectLambdaContext removes them when the invocation ends.
    .use({ before: async (request) => void logger.appendKeys(correlationKeys(request.event.pathParameters)) })
    .use({ onError: async (request) => void (request.response = errorResult(request.error)) })
    .handler(async (event) => {
      const route = routes[`${event.httpMethod} ${event.resource}`];
      if (!route) throw new NotFound(`no route for ${event.httpMethod} ${event.path}`);
      return toResult(await route(toRequest(event, options)));
    });
}

/** `limit` and `cursor` query parameters, checked. */
export function pageParams(request: ApiRequest, defaultLimit = 50, maxLimit = 200): { limit: number; cursor?: string } {
  const raw = request.query.limit;
  let limit = defaultLimit;
  if (raw !== undefined) {
    limit = Number(raw);
    if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) {
      throw new Invalid(`limit must be an integer from 1 to ${maxLimit}`);
    }
  }
  const cursor = request.query.cursor;
  return { limit, ...(cursor ? { cursor } : {}) };
}
