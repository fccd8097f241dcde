/**
 * Real answers held to the OpenAPI document (lib/http/openapi/): the request is matched to its
 * operation by method and path template, the status must be one the operation declares, and a
 * JSON body must be valid against that status's schema (Ajv, JSON Schema 2020-12). apiClient
 * (test/support/api.ts) checks every answer it gets, so every e2e test holds the API to its
 * document; what was checked is recorded, for test/e2e/openapi-coverage.test.ts.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { openApiDocument } from '../../lib/http/openapi/document';

interface DocumentOperation {
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
}

interface Template {
  /** `METHOD /path/{template}`, as the manifest and the document name it. */
  key: string;
  method: string;
  segments: string[];
  operation: DocumentOperation;
}

const document = openApiDocument() as { paths: Record<string, Record<string, DocumentOperation>>; components: { schemas: Record<string, unknown> } };

const templates: Template[] = Object.entries(document.paths).flatMap(([path, item]) =>
  Object.entries(item).map(([method, operation]) => ({ key: `${method.toUpperCase()} ${path}`, method: method.toUpperCase(), segments: path.split('/'), operation })),
);

/**
 * The operation a request is for. A literal segment beats a parameter (`/rollouts/active` is not
 * the rollout `active`), as API Gateway and the embedded host route it.
 */
export function operationOf(method: string, pathname: string): Template | undefined {
  const segments = pathname.split('/');
  const matches = templates.filter(
    (t) => t.method === method.toUpperCase() && t.segments.length === segments.length && t.segments.every((s, i) => (s.startsWith('{') ? segments[i] !== '' : s === segments[i])),
  );
  const literals = (t: Template) => t.segments.filter((s) => !s.startsWith('{')).length;
  return matches.sort((a, b) => literals(b) - literals(a))[0];
}

// The document's references are `#/components/schemas/X`; Ajv gets the components as the `$defs`
// of one schema, so each is compiled once and referenced as the document references it.
const componentsId = 'https://fleet-rollout.invalid/openapi-components';
const ajv = new Ajv2020({ allErrors: true, strict: true });
addFormats(ajv);
ajv.addSchema({ $id: componentsId, $defs: JSON.parse(JSON.stringify(document.components.schemas).replaceAll('"#/components/schemas/', `"${componentsId}#/$defs/`)) });

/**
 * One validator per component an answer refers to, compiled as this module loads: the e2e tests
 * run the host in their own process, and a compile in the middle of a test would stall its
 * timers (a delivery's backoff, a batch's delay) for as long as it takes.
 */
const validators = new Map<string, ValidateFunction>();
for (const { operation } of templates) {
  for (const response of Object.values(operation.responses)) {
    const ref = (response.content?.['application/json']?.schema as { $ref?: string } | undefined)?.$ref;
    if (ref === undefined) continue;
    if (!ref.startsWith('#/components/schemas/')) throw new Error(`an answer's schema is not a component reference: ${ref}`);
    if (!validators.has(ref)) validators.set(ref, ajv.compile({ $ref: ref.replace('#/components/schemas/', `${componentsId}#/$defs/`) }));
  }
}
const validatorOf = (schema: { $ref?: string }): ValidateFunction => validators.get(schema.$ref ?? '')!;

/** Operation key → the statuses its answers were checked with. */
const checked = new Map<string, Set<number>>();

export function checkedAnswers(): ReadonlyMap<string, ReadonlySet<number>> {
  return checked;
}

export interface Answer {
  method: string;
  url: string;
  status: number;
  /** The body as sent. */
  text: string;
  contentType: string | null;
}

const excerpt = (text: string) => (text.length > 400 ? `${text.slice(0, 400)}… (${text.length} chars)` : text);

/**
 * Throws, naming the operation, the status and what is wrong, when the answer breaks the document.
 * A request that is no operation of it (an unknown path or method) is not its business.
 */
export function holdToDocument(answer: Answer): void {
  const { pathname } = new URL(answer.url);
  const template = operationOf(answer.method, pathname);
  if (!template) return;
  const where = `${template.key} (${answer.method} ${pathname}) answered ${answer.status}`;
  const declared = template.operation.responses[String(answer.status)];
  if (!declared) {
    throw new Error(`${where}, a status its operation does not declare (it declares ${Object.keys(template.operation.responses).join(', ')}): ${excerpt(answer.text)}`);
  }
  const content = declared.content?.['application/json'];
  if (!content) {
    if (answer.text !== '') throw new Error(`${where} with a body, which the document says it has none of: ${excerpt(answer.text)}`);
  } else {
    if (!/^application\/json\b/.test(answer.contentType ?? '')) throw new Error(`${where} with content-type ${answer.contentType}, not application/json`);
    let body: unknown;
    try {
      body = JSON.parse(answer.text);
    } catch {
      throw new Error(`${where} with a body that is not JSON: ${excerpt(answer.text)}`);
    }
    const validate = validatorOf(content.schema as { $ref?: string });
    if (!validate(body)) {
      const problems = (validate.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message}${e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''}`);
      throw new Error(`${where} with a body its schema ${(content.schema as { $ref: string }).$ref} refuses:\n  ${problems.join('\n  ')}\n  body: ${excerpt(answer.text)}`);
    }
  }
  const statuses = checked.get(template.key) ?? new Set<number>();
  statuses.add(answer.status);
  checked.set(template.key, statuses);
}
