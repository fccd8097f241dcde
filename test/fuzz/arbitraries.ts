/**
 * What the route fuzzer sends, as fast-check arbitraries. A generated request is a plan that
 * names choices (which credential, which kind of path parameter, which valid body to mutate and
 * how) rather than concrete ids: the ids, tokens and cursors of the running host are filled in
 * when the plan is sent (routes.test.ts), so the same plan means the same thing on any host.
 */
import fc from 'fast-check';

/** A JSON token written as is: numbers JSON.stringify cannot write (1e999, -0, 2^53+1). */
export class RawJson {
  constructor(readonly text: string) {}
}

/**
 * JSON text of `value`, keeping what JSON.stringify loses: RawJson tokens, and own properties
 * named `__proto__` (which an object literal would turn into a prototype instead).
 */
export function jsonText(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (Array.isArray(value)) return `[${value.map(jsonText).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value).map(([key, inner]) => `${JSON.stringify(key)}:${jsonText(inner)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** An object with exactly these own properties, `__proto__` included. */
export function objectOf(entries: readonly (readonly [string, unknown])[]): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (const [key, value] of entries) Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  return object;
}

/**
 * Percent-encoding as a client would do it, for any string: encodeURIComponent throws on a lone
 * surrogate, which a client sends as the UTF-8 of U+FFFD.
 */
export function encodeComponent(value: string): string {
  return encodeURIComponent(Buffer.from(value, 'utf8').toString('utf8'));
}

const huge = (char: string, length: number) => char.repeat(length);

/** Strings that broke, or might break, something somewhere. */
export const hostileStrings: readonly string[] = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\u0000'.repeat(64),
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '..',
  '../../etc/passwd',
  '%00',
  '%2e%2e%2f',
  '\\',
  '"',
  "'",
  '${7*7}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  'null',
  'undefined',
  'NaN',
  'Infinity',
  '-0',
  '1e308',
  '9007199254740993',
  'true',
  '[]',
  '{}',
  '\u202e\u0647\u0644\u0627',
  '\ud83d\ude00',
  '\ud800',
  '\udfff',
  '\ufeff',
  '\u2028\u2029',
  'e\u0301',
  'ＡＢＣ',
  '\r\n',
  '\t',
  'pending',
  'in_progress',
  'sha256:' + '0'.repeat(64),
  'docker.io/library/nginx:latest',
  '*',
  '**',
  '?',
  '[a-',
  '(a+)+$',
  'a'.repeat(257),
  huge('x', 10_000),
  huge('é', 5_000),
  huge('\u0000', 3_000),
];

/** Any string a client could send: hostile ones, printable, full unicode (lone surrogates too), long runs. */
export const anyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...hostileStrings) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('a', '0', '-', '.', '/', ':', '\u0000', '😀', '%'), fc.constantFrom(100, 1_000, 10_000, 70_000)).map(([c, n]) => huge(c, n)) },
);

/** Numbers at and past the edges: JSON.parse reads 1e999 as Infinity and 1e-400 as 0. */
export const extremeNumber: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    0,
    -1,
    1,
    0.5,
    -0.5,
    1e308,
    -1e308,
    5e-324,
    2 ** 31,
    2 ** 32,
    2 ** 53,
    Number.MAX_SAFE_INTEGER,
    Number.MIN_SAFE_INTEGER,
    new RawJson('-0'),
    new RawJson('1e999'),
    new RawJson('-1e999'),
    new RawJson('1e-400'),
    new RawJson('9007199254740993'),
    new RawJson('123456789012345678901234567890'),
    new RawJson('0.1e1'),
    'NaN',
    'Infinity',
    '1e308',
  ),
  fc.integer(),
  fc.double(),
);

const keyName = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'valueOf', '', ' ', 'a.b', 'a[0]', '$where', '\u0000', 'x'.repeat(300)),
  fc.string({ maxLength: 12 }),
);

/** JSON values of every kind, with hostile leaves and keys, nesting a few levels. */
export const anyJson: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    extremeNumber,
    anyString,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.array(fc.tuple(keyName, tie('value')), { maxLength: 4 }).map(objectOf),
  ),
})).value;

/** Bodies that are not JSON, or JSON nested past what anything expects. */
export const malformedBody: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '{',
    '}',
    '{"a":}',
    '{"a":1,}',
    "{'a':1}",
    '{"a":1}{"b":2}',
    '{"a":1} trailing',
    'NaN',
    'undefined',
    '\u0000',
    '{"a":"\u0000"}',
    '\ufeff{}',
    '[',
    '"unterminated',
    '{"__proto__":{"polluted":true}}',
    '{"constructor":{"prototype":{"polluted":true}}}',
    '{"a":1e999}',
    '{"a":-0}',
    '[1e308,-1e308,5e-324]',
    '{"a":1,"a":2}',
    '[' .repeat(10_000) + ']'.repeat(10_000),
    '{"a":'.repeat(5_000) + '1' + '}'.repeat(5_000),
    '{"a":' + '['.repeat(3_000) + ']'.repeat(3_000) + '}',
    'null',
    'true',
    '0',
    '""',
    '[]',
    '{}',
  ),
  fc.string({ maxLength: 60 }),
  fc.string({ unit: 'binary', maxLength: 60 }),
);

/** One change to a valid body: a field replaced, dropped or added, or the body reshaped. */
export type Mutation =
  | { op: 'keep' }
  | { op: 'replace'; at: number; value: unknown }
  | { op: 'drop'; at: number }
  | { op: 'add'; at: number; key: string; value: unknown }
  | { op: 'wrap-in-array' }
  | { op: 'cut'; at: number };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 1, arbitrary: fc.constant<Mutation>({ op: 'keep' }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('replace' as const), at: fc.nat(), value: anyJson }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('drop' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('add' as const), at: fc.nat(), key: keyName, value: anyJson }) },
  { weight: 1, arbitrary: fc.constant<Mutation>({ op: 'wrap-in-array' }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cut' as const), at: fc.nat() }) },
);

type Path = (string | number)[];

/** Every place inside `value` a mutation can change, the root included. */
function pathsOf(value: unknown, at: Path = []): Path[] {
  const inner =
    Array.isArray(value)
      ? value.flatMap((item, i) => pathsOf(item, [...at, i]))
      : value !== null && typeof value === 'object'
        ? Object.entries(value).flatMap(([key, item]) => pathsOf(item, [...at, key]))
        : [];
  return [at, ...inner];
}

/** `value` with the thing at `path` changed by `change` (undefined: removed). */
function changeAt(value: unknown, path: Path, change: (current: unknown) => unknown): unknown {
  if (path.length === 0) return change(value);
  const [head, ...rest] = path as [string | number, ...Path];
  if (Array.isArray(value)) {
    const copy = [...value];
    const next = changeAt(copy[head as number], rest, change);
    if (next === undefined) copy.splice(head as number, 1);
    else copy[head as number] = next;
    return copy;
  }
  const entries = Object.entries(value as Record<string, unknown>).flatMap(([key, item]): [string, unknown][] => {
    if (key !== head) return [[key, item]];
    const next = changeAt(item, rest, change);
    return next === undefined ? [] : [[key, next]];
  });
  return objectOf(entries);
}

/** The body text of `valid` after `m`. */
export function mutate(valid: unknown, m: Mutation): string {
  const paths = pathsOf(valid);
  const path = (at: number) => paths[at % paths.length]!;
  switch (m.op) {
    case 'keep':
      return jsonText(valid);
    case 'replace':
      return jsonText(changeAt(valid, path(m.at), () => m.value));
    case 'drop': {
      const at = path(m.at);
      return at.length === 0 ? '' : jsonText(changeAt(valid, at, () => undefined));
    }
    case 'add': {
      const objects = paths.filter((p) => {
        const target = p.reduce<unknown>((v, key) => (v as Record<string | number, unknown>)[key], valid);
        return target !== null && typeof target === 'object' && !Array.isArray(target);
      });
      const at = objects[m.at % Math.max(objects.length, 1)] ?? [];
      return jsonText(changeAt(valid, at, (current) => objectOf([...Object.entries(current as object), [m.key, m.value]])));
    }
    case 'wrap-in-array':
      return jsonText([valid]);
    case 'cut': {
      const text = jsonText(valid);
      return text.slice(0, m.at % Math.max(text.length, 1));
    }
  }
}

/** Who the request claims to be. */
export const credentials = [
  'none',
  'garbage',
  'admin',
  'device',
  'other-device',
  'webhook-query',
  'webhook-header',
  'provisioning',
  'admin-in-query',
] as const;
export type CredentialKind = (typeof credentials)[number];

export const credential: fc.Arbitrary<CredentialKind> = fc.oneof(
  // The admin key most often: behind it are the routes' own checks.
  { weight: 5, arbitrary: fc.constant<CredentialKind>('admin') },
  { weight: 1, arbitrary: fc.constantFrom(...credentials) },
);

/** Tokens that are not anyone's: shaped like the real ones, or not at all. */
export const garbageToken: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('', ' ', 'Bearer', 'null', 'dt_', 'dt_.', 'dt_x.y', 'dt_00000000-0000-0000-0000-000000000000.secret', 'ak_x', 'pk_x.y', 'x'.repeat(5_000), 'dt_constructor.x', 'dt___proto__.x'),
  fc.stringMatching(/^[\x21-\x7e]{1,80}$/),
);

/** A path parameter: one the host has, one it does not, or something hostile. */
export type ParamChoice = { kind: 'known'; pick: number } | { kind: 'unknown'; pick: number } | { kind: 'hostile'; segment: string };

/** Segments written into the path as they are: already percent-encoded, or meant to be raw. */
export const hostileSegments: readonly string[] = [
  '..',
  '.',
  '%2e%2e',
  '%2E',
  '%00',
  'a%00b',
  '%2F',
  'a%2Fb',
  '%2f..%2f..',
  '%5C',
  'constructor',
  '__proto__',
  'prototype',
  'hasOwnProperty',
  '%',
  '%zz',
  '%FF',
  '%C0%AF',
  '%ED%A0%80',
  '%E2%80%AE',
  '%F0%9F%98%80',
  '%20',
  '+',
  '*',
  'provision',
  'active',
  "'",
  '%22',
  '$(id)',
  '~',
  'x'.repeat(10_000),
  '%41'.repeat(3_000),
];

export const paramChoice: fc.Arbitrary<ParamChoice> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('known' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('unknown' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('hostile' as const), segment: fc.constantFrom(...hostileSegments) }) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }), fc.string({ minLength: 1, maxLength: 30 }))
      .map((value) => ({ kind: 'hostile' as const, segment: encodeComponent(value) })),
  },
);

/** A cursor: a real one of some listing, changed (or not) the way a tamperer would. */
export type CursorTamper =
  | { op: 'as-is' }
  | { op: 'flip'; at: number }
  | { op: 'cut'; at: number }
  | { op: 'append'; text: string }
  | { op: 'field'; at: number; value: unknown }
  | { op: 'text'; text: string };

export const cursorTamper: fc.Arbitrary<CursorTamper> = fc.oneof(
  fc.constant<CursorTamper>({ op: 'as-is' }),
  fc.record({ op: fc.constant('flip' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('append' as const), text: fc.constantFrom('x', '=', '==', '.', '%', 'AA', '\u0000') }),
  fc.record({ op: fc.constant('field' as const), at: fc.nat(), value: anyJson }),
  fc.record({
    op: fc.constant('text' as const),
    text: fc.oneof(
      fc.constantFrom('', '!', 'e30', 'bnVsbA', 'W10', 'eyJfX3Byb3RvX18iOnt9fQ', 'x'.repeat(5_000)),
      fc.base64String({ maxLength: 80 }),
      fc.string({ maxLength: 40 }),
    ),
  }),
);

const base64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

/** Applies `t` to the real cursor `cursor` (base64url of JSON). */
export function tamperCursor(cursor: string, t: CursorTamper): string {
  switch (t.op) {
    case 'as-is':
      return cursor;
    case 'flip': {
      const at = t.at % Math.max(cursor.length, 1);
      const char = cursor[at] ?? 'A';
      return cursor.slice(0, at) + (char === 'A' ? 'B' : 'A') + cursor.slice(at + 1);
    }
    case 'cut':
      return cursor.slice(0, t.at % Math.max(cursor.length, 1));
    case 'append':
      return cursor + t.text;
    case 'field': {
      let decoded: unknown;
      try {
        decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
      } catch {
        return cursor;
      }
      return base64url(mutate(decoded, { op: 'replace', at: t.at, value: t.value }));
    }
    case 'text':
      return t.text;
  }
}

export type QueryValue = { kind: 'text'; value: string } | { kind: 'cursor'; pick: number; tamper: CursorTamper };

const queryKey = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('limit', 'cursor', 'status', 'image_name', 'token', 'label') },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', 'limit[]', 'LIMIT', '', 'a%00') },
  { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
);

const queryText = fc.oneof(
  fc.constantFrom('1', '0', '-1', '1.5', '200', '201', '500', '501', '1e3', '0x10', ' 5', '5 ', '', 'NaN', 'Infinity', '9007199254740993'),
  fc.constantFrom('pending', 'in_progress', 'paused', 'completed', 'cancelled', 'rolled_back', 'failed', 'PAUSED'),
  fc.constantFrom('ring:canary', 'ring:', 'ring', ':canary', ':', 'a:b:c', '__proto__:x', 'constructor:', 'Ring!:x'),
  fc.integer().map(String),
  anyString.map((value) => value.slice(0, 2_000)),
);

export const queryPair: fc.Arbitrary<[string, QueryValue]> = fc.oneof(
  fc.tuple(queryKey, queryText.map((value): QueryValue => ({ kind: 'text', value }))),
  fc.tuple(fc.constant('cursor'), fc.record({ kind: fc.constant('cursor' as const), pick: fc.nat(), tamper: cursorTamper })),
);

/** Content types: the right ones, near misses and strangers. */
export const contentType: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 6, arbitrary: fc.constant('application/json') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      undefined,
      'application/json; charset=utf-8',
      'application/vnd.docker.distribution.events.v1+json',
      'APPLICATION/JSON',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/jsonx',
      'json',
      '',
      ';',
    ),
  },
);

const headerValue = fc.oneof(
  fc.constantFrom('', 'x', '*', '"1"', 'W/"1"', '"999999"', 'null', '__proto__', 'x'.repeat(4_000), 'Bearer', 'Basic Zm9vOmJhcg=='),
  fc.stringMatching(/^[\x20-\x7e]{0,60}$/),
);

/** Headers besides the credential and content type. */
export const extraHeaders: fc.Arbitrary<[string, string][]> = fc.array(
  fc.tuple(
    fc.constantFrom('if-none-match', 'x-hub-signature-256', 'x-forwarded-for', 'constructor', '__proto__', 'toString', 'accept', 'content-encoding', 'x-http-method-override', 'x-amzn-trace-id'),
    headerValue,
  ),
  { maxLength: 3 },
);

export type BodyChoice =
  | { kind: 'none' }
  | { kind: 'valid'; template: number; mutation: Mutation }
  | { kind: 'json'; value: unknown }
  | { kind: 'text'; text: string };

export const bodyChoice: fc.Arbitrary<BodyChoice> = fc.oneof(
  { weight: 1, arbitrary: fc.constant<BodyChoice>({ kind: 'none' }) },
  // Mostly a valid body with one change, so that the fuzzer gets past the first check.
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('valid' as const), template: fc.nat(), mutation }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('json' as const), value: anyJson }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('text' as const), text: malformedBody }) },
);

export const otherMethods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

/** One request against one route, before the host's ids are filled in. */
export interface RequestPlan {
  /** Undefined: the route's own method. */
  method?: (typeof otherMethods)[number];
  credential: CredentialKind;
  garbage: string;
  params: ParamChoice[];
  query: [string, QueryValue][];
  contentType: string | undefined;
  headers: [string, string][];
  body: BodyChoice;
}

export function requestPlan(paramCount: number): fc.Arbitrary<RequestPlan> {
  return fc.record({
    method: fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(...otherMethods) }),
    credential,
    garbage: garbageToken,
    params: fc.array(paramChoice, { minLength: paramCount, maxLength: paramCount }),
    query: fc.array(queryPair, { maxLength: 3 }),
    contentType,
    headers: extraHeaders,
    body: bodyChoice,
  });
}
