/**
 * The OpenAPI 3.1 document of the HTTP API, generated from lib/http/openapi/operations.ts: request
 * bodies from the zod schemas the handlers validate with (as they accept input: defaults make a
 * field optional), answers from the schemas of the views (as they produce output). Every schema
 * is a component, referenced by `$ref`. Served at `GET /api/v1/openapi.json`; `npm run openapi`
 * writes it to docs/openapi.json.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { deviceViewSchema } from '../../devices';
import { errorBodySchema } from '../../errors';
import { subscriptionViewSchema } from '../../notifications/subscriptions';
import { policySettingsSchema, policyViewSchema } from '../../policies';
import { provisioningKeyViewSchema } from '../../provisioning';
import { rolloutEventSchema } from '../../rollouts/event-schema';
import { rolloutDeviceViewSchema, rolloutStatisticsSchema, rolloutViewSchema } from '../../rollouts/views';
import { operations, tags, type Caller, type Named, type Operation } from './operations';

type JsonObject = Record<string, unknown>;

/** Schemas that several answers contain, named so that each is written once and referenced. */
const sharedAnswerSchemas: Named[] = [
  { name: 'Error', schema: errorBodySchema },
  { name: 'PolicySettings', schema: policySettingsSchema },
  { name: 'Policy', schema: policyViewSchema },
  { name: 'Device', schema: deviceViewSchema },
  { name: 'ProvisioningKey', schema: provisioningKeyViewSchema },
  { name: 'RolloutView', schema: rolloutViewSchema },
  { name: 'RolloutStatistics', schema: rolloutStatisticsSchema },
  { name: 'RolloutDevice', schema: rolloutDeviceViewSchema },
  { name: 'RolloutEvent', schema: rolloutEventSchema },
  { name: 'Subscription', schema: subscriptionViewSchema },
];

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

const securitySchemes = {
  adminKey: { type: 'http', scheme: 'bearer', description: 'The admin key.' },
  deviceToken: { type: 'http', scheme: 'bearer', description: "The device's own token, issued when it was registered." },
  provisioningKey: { type: 'http', scheme: 'bearer', description: 'A provisioning key (`fpk_…`) that is neither revoked, expired nor used up.' },
  webhookToken: { type: 'apiKey', in: 'query', name: 'token', description: "The registry's secret, as Docker Hub sends it (`?token=`)." },
  webhookBearer: { type: 'http', scheme: 'bearer', description: "The registry's secret, as CNCF Distribution sends it." },
} as const;

const securityOf: Record<Caller, Record<string, string[]>[]> = {
  admin: [{ adminKey: [] }],
  device: [{ deviceToken: [] }],
  provisioningKey: [{ provisioningKey: [] }],
  webhookSecret: [{ webhookToken: [] }, { webhookBearer: [] }],
  public: [],
};

const forbidden: Partial<Record<Caller, string>> = {
  admin: 'A device token: admin routes take the admin key.',
  device: "Another device's token, or the admin key: a device reaches only its own state.",
  provisioningKey: 'The provisioning key is used up.',
};

const pathParameterNames = (path: string) => [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]!);

/** The refusals an operation can answer, from what it takes: a credential, a body, a query, ids. */
export function errorStatuses(key: string, operation: Operation): Record<number, string> {
  const path = key.slice(key.indexOf(' ') + 1);
  const errors: Record<number, string> = {};
  const hasIds = pathParameterNames(path).length > 0;
  // A path parameter is refused when its percent-encoding is malformed, before any handler runs.
  if (operation.body || operation.query?.length || hasIds) {
    errors[400] = 'The body, query or path is not valid: the message names every problem, a body\'s or query\'s each also in `details.issues`.';
  }
  if (operation.auth !== 'public') errors[401] = 'No credential, or not one this route takes.';
  const refusal = forbidden[operation.auth];
  if (refusal) errors[403] = refusal;
  if (hasIds) errors[404] = 'Nothing has this id.';
  if (operation.conflicts) errors[409] = `Refused: ${operation.conflicts}.`;
  if (operation.rateLimited) errors[429] = `Over the limit of ${operation.rateLimited}; \`Retry-After\` says in how many seconds to try again.`;
  if (operation.body) {
    errors[413] = 'The body is larger than this route takes.';
    errors[415] = 'The body is not of a media type this route takes.';
  }
  errors[500] = 'A fault of ours; the answer carries no detail.';
  return errors;
}

function operationId(method: string, path: string): string {
  const words = path
    .replace(/^\/api\/v1\//, '')
    .split('/')
    .flatMap((segment) => (segment.startsWith('{') ? ['by', segment.slice(1, -1)] : segment.split(/[-.]/)));
  return method.toLowerCase() + words.map((word) => word.charAt(0).toUpperCase() + word.slice(1)).join('');
}

function headersOf(headers: Record<string, string> | undefined) {
  if (!headers) return {};
  return { headers: Object.fromEntries(Object.entries(headers).map(([name, description]) => [name, { description, schema: { type: 'string' } }])) };
}

function pathItemOperation(key: string, operation: Operation): JsonObject {
  const [method, path] = key.split(' ') as [string, string];
  const parameters = [
    ...pathParameterNames(path).map((name) => {
      const description = operation.pathParameters?.[name];
      if (!description) throw new Error(`${key}: path parameter {${name}} has no description`);
      return { name, in: 'path', required: true, description, schema: { type: 'string' } };
    }),
    ...(operation.query ?? []).map((query) => ({ name: query.name, in: 'query', required: false, description: query.description, schema: query.schema })),
  ];
  const bodies = operation.body === undefined ? [] : [operation.body].flat();
  const bodySchema = bodies.length === 1 ? ref(bodies[0]!.name) : { oneOf: bodies.map((body) => ref(body.name)) };
  const answers = Object.entries(operation.answers).map(([status, answer]) => [
    status,
    { description: answer.description, ...headersOf(answer.headers), ...(answer.body ? { content: { 'application/json': { schema: ref(answer.body.name) } } } : {}) },
  ]);
  const errorHeaders: Record<string, Record<string, string>> = { 429: { 'retry-after': 'Whole seconds until a retry can be accepted.' } };
  const errors = Object.entries(errorStatuses(key, operation)).map(([status, description]) => [
    status,
    { description, ...headersOf(errorHeaders[status]), content: { 'application/json': { schema: ref('Error') } } },
  ]);
  return {
    operationId: operationId(method, path),
    summary: operation.summary,
    tags: [operation.tag],
    security: securityOf[operation.auth],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(bodies.length > 0
      ? {
          requestBody: {
            // An empty body reads as `{}`; where `{}` is valid, the body may be left out.
            required: !bodies.some((body) => body.schema.safeParse({}).success),
            content: Object.fromEntries((operation.mediaTypes ?? ['application/json']).map((type) => [type, { schema: bodySchema }])),
          },
        }
      : {}),
    responses: Object.fromEntries([...answers, ...errors]),
  };
}

/** Each schema under its name, as JSON Schema 2020-12; a name given to two schemas is a mistake. */
function componentSchemas(schemas: Named[], io: 'input' | 'output'): Record<string, JsonObject> {
  const registry = z.registry<{ id: string }>();
  const seen = new Map<string, z.ZodType>();
  for (const { name, schema } of schemas) {
    const known = seen.get(name);
    if (known && known !== schema) throw new Error(`two schemas are named ${name}`);
    if (!known) registry.add(schema, { id: name });
    seen.set(name, schema);
  }
  // Refinements (superRefine, refine) have no JSON Schema; the checks they make stay the handler's.
  const { schemas: generated } = z.toJSONSchema(registry, { target: 'draft-2020-12', io, unrepresentable: 'any', uri: (id) => ref(id).$ref });
  return Object.fromEntries(
    Object.entries(generated).map(([name, schema]) => {
      const { $schema: _dialect, $id: _id, ...rest } = schema as JsonObject;
      return [name, rest];
    }),
  );
}

function buildDocument(): JsonObject {
  const entries = Object.entries(operations);
  const requests = componentSchemas(entries.flatMap(([, op]) => (op.body === undefined ? [] : [op.body].flat())), 'input');
  const answers = componentSchemas([...sharedAnswerSchemas, ...entries.flatMap(([, op]) => Object.values(op.answers).flatMap((a) => (a.body ? [a.body] : [])))], 'output');
  const clash = Object.keys(requests).find((name) => name in answers);
  if (clash) throw new Error(`${clash} names both a request body and an answer`);

  const paths: Record<string, JsonObject> = {};
  for (const [key, operation] of entries) {
    const [method, path] = key.split(' ') as [string, string];
    paths[path] = { ...paths[path], [method.toLowerCase()]: pathItemOperation(key, operation) };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'fleet-rollout',
      // The API's version, as its paths carry it.
      version: 'v1',
      description: 'Staged container-image rollouts for IoT device fleets. Bodies are JSON, snake_case; every error is `{"error":{"code","message","details"?}}`.',
    },
    tags: Object.entries(tags).map(([name, description]) => ({ name, description })),
    paths,
    components: { schemas: { ...requests, ...answers }, securitySchemes },
  };
}

let built: { document: JsonObject; etag: string } | undefined;

function served() {
  if (!built) {
    const document = buildDocument();
    built = { document, etag: `"${createHash('sha256').update(JSON.stringify(document)).digest('base64url').slice(0, 22)}"` };
  }
  return built;
}

/** The document, built once per process. */
export const openApiDocument = (): JsonObject => served().document;
/** A strong ETag of the document: it changes only when the code does. */
export const openApiEtag = (): string => served().etag;
/** The document as docs/openapi.json holds it: indented, with a final newline. */
export const openApiDocumentJson = (): string => `${JSON.stringify(openApiDocument(), null, 2)}\n`;
