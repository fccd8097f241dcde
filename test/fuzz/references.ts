/**
 * Valid image references by their parts, for the property tests of the reference grammar and of
 * policy patterns: hosts with and without ports, repository paths of one or more components, tags
 * and digests, as distribution/reference allows them.
 */
import fc from 'fast-check';

const lower = 'abcdefghijklmnopqrstuvwxyz0123456789';
const alnum = fc.string({ unit: fc.constantFrom(...lower), minLength: 1, maxLength: 8 });

/** `a`, `a.b`, `a_b`, `a__b`, `a-b`, `a---b`: runs of lower-case letters and digits joined by separators. */
export const pathComponent = (allowDot = true): fc.Arbitrary<string> =>
  fc
    .tuple(alnum, fc.array(fc.tuple(fc.constantFrom(...(allowDot ? ['.', '_', '__', '-', '--'] : ['_', '__', '-', '--'])), alnum), { maxLength: 2 }))
    .map(([first, rest]) => first + rest.map(([sep, run]) => sep + run).join(''));

const label = fc
  .tuple(fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'), minLength: 1, maxLength: 6 }), fc.boolean())
  .map(([text, dashed]) => (dashed && text.length > 1 ? `${text[0]}-${text.slice(1)}` : text));

/** A registry host a reference can start with: a dotted name, `localhost`, or a bracketed IPv6 address; with a port or not. */
export const registryHost: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(
      fc.array(label, { minLength: 2, maxLength: 3 }).map((labels) => labels.join('.')),
      fc.constant('localhost'),
      fc.constantFrom('[::1]', '[fd00::1]', '[2001:db8::5]'),
    ),
    fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
  )
  .map(([name, port]) => (port === undefined ? name : `${name}:${port}`));

export const tag: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(...'abcXYZ019_'), fc.string({ unit: fc.constantFrom(...'abcXYZ019_.-'), maxLength: 20 }))
  .map(([first, rest]) => first + rest);

export const digest: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }).map((hex) => `sha256:${hex}`),
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 128, maxLength: 128 }).map((hex) => `sha512:${hex}`),
);

export interface ReferenceParts {
  host?: string;
  /** Path components, e.g. `['team', 'app']`. */
  path: string[];
  tag?: string;
  digest?: string;
}

/**
 * Parts of a valid reference. Without a host, a first component followed by others has no `.`:
 * Docker would read `a.b/c` as host `a.b`, path `c`.
 */
export const referenceParts: fc.Arbitrary<ReferenceParts> = fc
  .record({
    host: fc.option(registryHost, { nil: undefined }),
    first: fc.tuple(pathComponent(false), pathComponent(true)),
    rest: fc.array(pathComponent(true), { maxLength: 3 }),
    tag: fc.option(tag, { nil: undefined }),
    digest: fc.option(digest, { nil: undefined }),
  })
  .map(({ host, first: [noDot, withDot], rest, tag, digest }) => {
    const path = rest.length === 0 && host === undefined ? [withDot] : [host === undefined ? noDot : withDot, ...rest];
    return { ...(host !== undefined ? { host } : {}), path, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
  })
  // The grammar bounds the repository name (host and path) to 255 characters.
  .filter((parts) => repositoryOf(parts).length <= 255);

export function repositoryOf(parts: ReferenceParts): string {
  return [...(parts.host !== undefined ? [parts.host] : []), ...parts.path].join('/');
}

/** The reference as a user writes it: `host:port/path:tag@digest`. */
export function formatReference(parts: ReferenceParts): string {
  return `${repositoryOf(parts)}${parts.tag !== undefined ? `:${parts.tag}` : ''}${parts.digest !== undefined ? `@${parts.digest}` : ''}`;
}
