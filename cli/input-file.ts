/**
 * Request bodies from a file: JSON or YAML (YAML 1.2 reads JSON too, so one parser serves both),
 * `-` for standard input. The body goes to the API as read; the API validates it and names every
 * problem, so the CLI does not keep a second copy of the schemas.
 */
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { UsageError } from './exit-codes';

export async function readBody(path: string, stdin: () => Promise<string> = readStdin): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = path === '-' ? await stdin() : await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  return parseBody(text, path);
}

export function parseBody(text: string, source: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = parse(text, { prettyErrors: true });
  } catch (error) {
    throw new UsageError(`${source} is neither JSON nor YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`${source} must hold an object (a mapping), not ${Array.isArray(value) ? 'a list' : JSON.stringify(value)}`);
  return value as Record<string, unknown>;
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
