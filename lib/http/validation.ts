/** Turns a schema failure into a 400 whose message names each offending field. */
import type { z } from 'zod';
import { Invalid } from '../errors';

export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

export function validate<T>(schema: z.ZodType<T>, value: unknown, what = 'body'): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new Invalid(`${what} is invalid: ${describeIssues(result.error)}`, {
      issues: result.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
    });
  }
  return result.data;
}
