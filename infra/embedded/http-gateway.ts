/**
 * The local twin of the API Gateway REST API: matches a request against the manifest's routes,
 * turns it into a REST (v1) Lambda proxy event, invokes the function and writes its proxy result
 * back, with API Gateway's answers where the gateway itself answers (too large, function failed,
 * malformed result).
 *
 * Deviations from API Gateway, and why:
 * - Header names reach the handler lowercased (Node.js lowercases them; API Gateway keeps the
 *   case the client sent). Handlers must read headers case-insensitively, which they have to on
 *   AWS anyway because clients differ.
 * - No route, or no such method on a path: 404 with a JSON error. A bare REST API answers both
 *   with 403 "Missing Authentication Token"; the CDK stack maps that gateway response to the same
 *   404, and its 5xx gateway responses to the same JSON error as here, so the hosts agree.
 * - No binary media types are configured, so every request body is passed as UTF-8 text
 *   (`isBase64Encoded: false`), as API Gateway does for text content types.
 * - Greedy path parameters (`{proxy+}`) are not supported; the manifest does not use them.
 * - Only API Gateway's 10 MB request limit applies. On AWS, Lambda's 6 MB limit on a synchronous
 *   invocation's event makes requests between 6 and 10 MB fail too; handlers cap bodies far
 *   below either, so the difference never shows.
 * - The 29-second integration timeout is not enforced (no 504): each function's own timeout,
 *   which the manifest keeps below 29 s for routed functions, ends a slow invocation with a 502.
 * - The host's own routes (`/metrics`, infra/embedded/metrics-endpoint.ts) are answered here with
 *   no function behind them; the stack has no such route (CloudWatch holds those figures).
 * - A request Node's HTTP parser refuses before any route is matched (a request line and headers
 *   over Node's 16 KB, a malformed request line) gets a JSON 431 or 400 and the connection is
 *   closed; API Gateway has limits of its own there (10 KB a header) and answers them its way.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, maxHeaderSize, validateHeaderName, validateHeaderValue } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { HttpMethod } from '../manifest';
import { accountId } from './aws-identity';
import { invoke, type LoadedFunction } from './lambda-runtime';
import type { Logger } from './logger';

/** API Gateway's payload limit (10 MB). */
export const maxBodyBytes = 10 * 1024 * 1024;

const stage = 'local';

export interface HttpRoute {
  method: HttpMethod;
  /** API Gateway resource path, path parameters in braces. */
  path: string;
  fn: LoadedFunction;
}

/** What a host route answers. */
export interface HostRouteResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * A route the host answers itself, no function behind it (`/metrics`): matched on its exact
 * path before the manifest's routes, with the request's headers (lower-cased names).
 */
export interface HostRoute {
  method: HttpMethod;
  path: string;
  handle(headers: Readonly<Record<string, string | undefined>>): Promise<HostRouteResponse>;
}

export interface HttpGatewayOptions {
  routes: HttpRoute[];
  hostRoutes?: HostRoute[];
  port: number;
  host: string;
  logger: Logger;
}

export interface HttpGateway {
  url: string;
  port: number;
  close(): Promise<void>;
}

interface Resource {
  path: string;
  id: string;
  /** Literal segment, or the parameter name for `{name}` segments. */
  segments: { literal?: string; param?: string }[];
  methods: Map<string, LoadedFunction>;
}

interface HttpResponse {
  statusCode: number;
  headers: [string, string[]][];
  body: Buffer;
}

function compileResources(routes: HttpRoute[]): Resource[] {
  const byPath = new Map<string, Resource>();
  for (const route of routes) {
    let resource = byPath.get(route.path);
    if (!resource) {
      const segments = route.path
        .split('/')
        .slice(1)
        .map((segment) => {
          if (segment.endsWith('+}')) throw new Error(`greedy path parameter in ${route.path} is not supported`);
          const param = /^\{(\w+)\}$/.exec(segment)?.[1];
          return param ? { param } : { literal: segment };
        });
      // API Gateway's resource ids are random; a hash of the path keeps them stable across restarts.
      const id = createHash('sha256').update(route.path).digest('hex').slice(0, 10);
      resource = { path: route.path, id, segments, methods: new Map() };
      byPath.set(route.path, resource);
    }
    if (resource.methods.has(route.method)) {
      // API Gateway refuses a second integration on the same method; so does this host.
      throw new Error(`route ${route.method} ${route.path} is declared twice`);
    }
    resource.methods.set(route.method, route.fn);
  }
  return [...byPath.values()];
}

function matches(resource: Resource, rawSegments: string[]): boolean {
  return (
    resource.segments.length === rawSegments.length &&
    resource.segments.every((segment, i) =>
      segment.param ? rawSegments[i] !== '' : segment.literal === rawSegments[i],
    )
  );
}

/** API Gateway prefers a literal segment over a parameter at the first place two paths differ. */
function moreSpecific(a: Resource, b: Resource): Resource {
  for (let i = 0; i < a.segments.length; i++) {
    const aLiteral = a.segments[i]?.literal !== undefined;
    const bLiteral = b.segments[i]?.literal !== undefined;
    if (aLiteral !== bLiteral) return aLiteral ? a : b;
  }
  return a;
}

function jsonResponse(statusCode: number, payload: unknown, extraHeaders: [string, string[]][] = []): HttpResponse {
  return {
    statusCode,
    headers: [['content-type', ['application/json']], ...extraHeaders],
    body: Buffer.from(JSON.stringify(payload)),
  };
}

const errorResponse = (statusCode: number, code: string, message: string, extra?: [string, string[]][]) =>
  jsonResponse(statusCode, { error: { code, message } }, extra);

/** What the deployed API answers when the function fails, times out or returns a malformed result. */
const internalServerError = () =>
  jsonResponse(502, { error: { code: 'internal_error', message: 'Internal server error' } }, [['x-amzn-ErrorType', ['InternalServerErrorException']]]);

type BodyResult = { kind: 'body'; body: Buffer } | { kind: 'too-large' };

function readBody(req: IncomingMessage): Promise<BodyResult> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length']) > maxBodyBytes) {
      resolve({ kind: 'too-large' });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size <= maxBodyBytes) {
        chunks.push(chunk);
        return;
      }
      // Answer at once but let the rest drain: destroying the request would also kill the 413.
      tooLarge = true;
      chunks.length = 0;
      resolve({ kind: 'too-large' });
    });
    req.on('end', () => resolve({ kind: 'body', body: Buffer.concat(chunks) }));
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('client closed the connection before sending the whole body'));
    });
  });
}

const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** API Gateway's CLF-style `requestTime`: 09/Apr/2015:12:34:56 +0000 */
function requestTime(epochMs: number): string {
  const date = new Date(epochMs);
  const pad = (n: number) => String(n).padStart(2, '0');
  const time = [date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()].map(pad).join(':');
  return `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${time} +0000`;
}

function traceId(epochMs: number): string {
  return `Root=1-${Math.floor(epochMs / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;
}

/** A map from client-chosen names, on a null-prototype object (see buildEvent). */
function nameMap<T>(entries: Iterable<readonly [string, T]>): Record<string, T> {
  const map = Object.create(null) as Record<string, T>;
  for (const [name, value] of entries) map[name] = value;
  return map;
}

function buildEvent(
  req: IncomingMessage,
  resource: Resource,
  rawPath: string,
  rawQuery: string | undefined,
  body: Buffer,
  requestId: string,
): APIGatewayProxyEvent {
  const requestTimeEpoch = Date.now();
  // A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d; API Gateway reports a.b.c.d.
  const sourceIp = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  const localPort = String(req.socket.localPort ?? '');

  // Every map is keyed by names the client chose: on null-prototype objects, a name such as
  // `__proto__` or `constructor` is a name like any other, not a property every object has.
  const multiValueHeaders = nameMap(Object.entries(req.headersDistinct).map(([name, values]) => [name, values ?? []] as const));
  // API Gateway appends the client to X-Forwarded-For and adds the other forwarding headers.
  const forwardedFor = multiValueHeaders['x-forwarded-for']?.at(-1);
  multiValueHeaders['x-forwarded-for'] = [forwardedFor ? `${forwardedFor}, ${sourceIp}` : sourceIp];
  multiValueHeaders['x-forwarded-port'] = [localPort];
  multiValueHeaders['x-forwarded-proto'] = ['http'];
  multiValueHeaders['x-amzn-trace-id'] = [traceId(requestTimeEpoch)];
  const headers = nameMap(Object.entries(multiValueHeaders).map(([name, values]) => [name, values.at(-1) ?? '']));

  // URLSearchParams decodes `+` as a space, as API Gateway does for query strings.
  const query = new URLSearchParams(rawQuery ?? '');
  const multiValueQuery = nameMap<string[]>([]);
  for (const [name, value] of query) (multiValueQuery[name] ??= []).push(value);
  const hasQuery = Object.keys(multiValueQuery).length > 0;

  const rawSegments = rawPath.split('/').slice(1);
  const pathParameters = nameMap<string>([]);
  resource.segments.forEach((segment, i) => {
    if (segment.param) pathParameters[segment.param] = decodeURIComponent(rawSegments[i] ?? '');
  });
  const hasPathParameters = Object.keys(pathParameters).length > 0;

  const httpMethod = req.method ?? 'GET';
  return {
    resource: resource.path,
    path: rawPath,
    httpMethod,
    headers,
    multiValueHeaders,
    queryStringParameters: hasQuery
      ? nameMap(Object.entries(multiValueQuery).map(([name, values]) => [name, values.at(-1) ?? '']))
      : null,
    multiValueQueryStringParameters: hasQuery ? multiValueQuery : null,
    pathParameters: hasPathParameters ? pathParameters : null,
    stageVariables: null,
    requestContext: {
      accountId,
      apiId: 'embedded',
      authorizer: undefined,
      resourceId: resource.id,
      resourcePath: resource.path,
      httpMethod,
      // On API Gateway's default endpoint the context path starts with the stage; event.path does not.
      path: `/${stage}${rawPath}`,
      stage,
      requestId,
      extendedRequestId: requestId,
      requestTime: requestTime(requestTimeEpoch),
      requestTimeEpoch,
      protocol: `HTTP/${req.httpVersion}`,
      domainName: req.headers.host ?? '',
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp,
        user: null,
        userAgent: req.headers['user-agent'] ?? null,
        userArn: null,
      },
    },
    body: body.length > 0 ? body.toString('utf8') : null,
    isBase64Encoded: false,
  };
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isScalar = (value: unknown): value is string | number | boolean =>
  typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';

/**
 * The proxy result as API Gateway reads it, or undefined where API Gateway would reject it as a
 * "Malformed Lambda proxy response" (502): not an object, no valid status code, a body that is not
 * a string, or headers that are not scalars.
 */
function fromProxyResult(result: unknown): HttpResponse | undefined {
  if (!isRecord(result)) return undefined;
  const statusCode = Number(result.statusCode);
  if (!Number.isInteger(statusCode) || statusCode < 100 || statusCode > 599) return undefined;
  const { headers = {}, multiValueHeaders = {}, body = null, isBase64Encoded = false } = result;
  if (!isRecord(headers) || !isRecord(multiValueHeaders)) return undefined;
  if (body !== null && typeof body !== 'string') return undefined;

  // API Gateway merges both header maps; a value present in both appears once.
  const merged = new Map<string, { name: string; values: string[] }>();
  const add = (name: string, value: unknown) => {
    if (!isScalar(value)) throw new TypeError(`header ${name} has a non-scalar value`);
    const entry = merged.get(name.toLowerCase()) ?? { name, values: [] };
    if (!entry.values.includes(String(value))) entry.values.push(String(value));
    merged.set(name.toLowerCase(), entry);
  };
  try {
    for (const [name, values] of Object.entries(multiValueHeaders)) {
      if (!Array.isArray(values)) return undefined;
      values.forEach((value) => add(name, value));
    }
    for (const [name, value] of Object.entries(headers)) add(name, value);
    for (const { name, values } of merged.values()) {
      validateHeaderName(name);
      values.forEach((value) => validateHeaderValue(name, value));
    }
  } catch {
    return undefined;
  }
  // REST API proxy integrations default the content type to JSON.
  if (!merged.has('content-type')) merged.set('content-type', { name: 'Content-Type', values: ['application/json'] });

  return {
    statusCode,
    headers: [...merged.values()].map(({ name, values }) => [name, values]),
    body: Buffer.from(body ?? '', isBase64Encoded === true ? 'base64' : 'utf8'),
  };
}

function send(res: ServerResponse, response: HttpResponse, requestId: string): void {
  for (const [name, values] of response.headers) res.setHeader(name, values);
  res.setHeader('x-amzn-RequestId', requestId);
  res.writeHead(response.statusCode);
  res.end(response.body);
}

/**
 * Answers a request the HTTP parser refused, as every other refusal is answered: a JSON error
 * naming the problem. The connection is closed after it, since the parser cannot tell where the
 * next request would start.
 */
function refuseUnparsed(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
  const [status, reason, code, message] = tooLarge
    ? [431, 'Request Header Fields Too Large', 'headers_too_large', `the request line and headers exceed ${maxHeaderSize} bytes`]
    : [400, 'Bad Request', 'invalid_request', 'the request is not valid HTTP/1.1'];
  const body = JSON.stringify({ error: { code, message } });
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

export async function startHttpGateway(options: HttpGatewayOptions): Promise<HttpGateway> {
  const { logger } = options;
  const resources = compileResources(options.routes);
  const inFlight = new Set<Promise<void>>();
  let closing: Promise<void> | undefined;

  async function respond(req: IncomingMessage, requestId: string): Promise<HttpResponse> {
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    const queryStart = target.indexOf('?');
    const rawPath = queryStart === -1 ? target : target.slice(0, queryStart);
    const rawQuery = queryStart === -1 ? undefined : target.slice(queryStart + 1);
    const hostRoute = options.hostRoutes?.find((route) => route.path === rawPath);
    if (hostRoute) {
      if (hostRoute.method !== method) return errorResponse(404, 'not_found', `no route for ${method} ${rawPath}`);
      const answer = await hostRoute.handle(Object.fromEntries(Object.entries(req.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : value])));
      return { statusCode: answer.statusCode, headers: Object.entries(answer.headers).map(([name, value]) => [name, [value]]), body: Buffer.from(answer.body) };
    }
    const rawSegments = rawPath.split('/').slice(1);
    const resource = resources
      .filter((candidate) => matches(candidate, rawSegments))
      .reduce<Resource | undefined>((best, candidate) => (best ? moreSpecific(best, candidate) : candidate), undefined);
    if (!resource) return errorResponse(404, 'not_found', `no route for ${method} ${rawPath}`);
    const fn = resource.methods.get(method);
    if (!fn) return errorResponse(404, 'not_found', `no route for ${method} ${rawPath}`);

    const body = await readBody(req);
    if (body.kind === 'too-large') {
      return errorResponse(413, 'payload_too_large', `request body exceeds ${maxBodyBytes} bytes`);
    }
    let event: APIGatewayProxyEvent;
    try {
      event = buildEvent(req, resource, rawPath, rawQuery, body.body, requestId);
    } catch (error) {
      if (error instanceof URIError) return errorResponse(400, 'invalid_request', `malformed percent-encoding in ${rawPath}`);
      throw error;
    }
    try {
      const response = fromProxyResult(await invoke(fn, event, logger));
      if (response) return response;
      logger.error(`${fn.name} returned a malformed Lambda proxy response`, { path: rawPath });
    } catch {
      // invoke() has logged the failure; the client sees what API Gateway would show.
    }
    return internalServerError();
  }

  const server = createServer((req, res) => {
    const requestId = randomUUID();
    if (closing) {
      res.setHeader('connection', 'close');
      send(res, errorResponse(503, 'unavailable', 'the host is shutting down'), requestId);
      return;
    }
    const handled = (async () => {
      try {
        const response = await respond(req, requestId);
        logger.debug(`${req.method} ${req.url} ${response.statusCode}`, { requestId });
        send(res, response, requestId);
      } catch (error) {
        logger.warn(`${req.method} ${req.url} abandoned`, { requestId, error });
        res.destroy();
      }
    })();
    inFlight.add(handled);
    void handled.finally(() => inFlight.delete(handled));
  });

  server.on('clientError', (error: NodeJS.ErrnoException, socket) => refuseUnparsed(error, socket));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((error: unknown) => {
    throw new Error(`cannot listen on ${options.host}:${options.port}`, { cause: error });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`,
    port,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        await Promise.all(inFlight);
        server.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  };
}
