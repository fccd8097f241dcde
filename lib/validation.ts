/**
 * Schema validation for everything a client sends (API bodies and queries, registry payloads),
 * with one error shape: a 400 whose message names every problem, and `details.issues` listing
 * each as `{path, message}`. Neutral ground, so lib/registry uses it without depending on HTTP.
 */
import type { z } from 'zod';
import { Invalid } from './errors';

export interface Issue {
  /** Where the problem is, as someone reading the JSON would write it: `events[2].target.tag`. */
  path: string;
  /** What is wrong, worded to follow the path: `must be a string`. */
  message: string;
}

function fieldName(path: readonly PropertyKey[], prefix: string): string {
  let name = prefix;
  for (const key of path) name += typeof key === 'number' ? `[${key}]` : name === '' ? String(key) : `.${String(key)}`;
  return name;
}

const article: Record<string, string> = { object: 'an object', array: 'an array', record: 'an object', int: 'an integer' };

function bound(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig, limit: number | bigint, least: boolean): string {
  const inclusive = issue.inclusive !== false;
  const comparison = least ? (inclusive ? 'at least' : 'greater than') : inclusive ? 'at most' : 'less than';
  if (issue.origin === 'string') return `must be ${comparison} ${limit} characters long`;
  if (issue.origin === 'array' || issue.origin === 'set') return `must have ${comparison} ${limit} entries`;
  return `must be ${comparison} ${limit}`;
}

/**
 * The issue worded to follow the field name. The schemas' own messages already are ("must be a
 * tag …", lower-case first); zod's defaults ("Invalid input: …") are reworded by their code.
 */
function wording(issue: z.core.$ZodIssue): string {
  if (/^[a-z]/.test(issue.message)) return issue.message;
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? 'is required' : `must be ${article[issue.expected] ?? `a ${issue.expected}`}`;
    case 'too_small':
      return issue.origin === 'string' && Number(issue.minimum) === 1 ? 'must not be empty' : bound(issue, issue.minimum, true);
    case 'too_big':
      return bound(issue, issue.maximum, false);
    case 'invalid_value':
      return issue.values.length === 1 ? `must be ${JSON.stringify(issue.values[0])}` : `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `is invalid (${issue.message})`;
  }
}

export function issuesOf(error: z.ZodError, prefix = '', what = 'body'): Issue[] {
  return error.issues.flatMap((issue): Issue[] => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: fieldName([...issue.path, key], prefix), message: 'is not a known field' }));
    }
    return [{ path: fieldName(issue.path, prefix) || what, message: wording(issue) }];
  });
}

/**
 * `value` checked against `schema`.
 * @param options.prefix the path of `value` inside the body, e.g. `events[3]`
 * @param options.what what `value` is when a problem is with the whole of it: `body`, `query`
 * @throws Invalid whose message names every problem, with the same in `details.issues`
 */
export function validate<S extends z.ZodType>(schema: S, value: unknown, options: { prefix?: string; what?: string } = {}): z.output<S> {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const issues = issuesOf(result.error, options.prefix ?? '', options.what ?? 'body');
  throw new Invalid(issues.map((issue) => `${issue.path} ${issue.message}`).join('; '), { issues });
}
