/**
 * A thin client for the HTTP API, as a user with curl would call it. Every answer is held to the
 * OpenAPI document (./openapi-contract.ts): one that breaks it fails the test that got it.
 */
import { expect } from 'vitest';
import { holdToDocument } from './openapi-contract';

export interface ApiResult<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export function apiClient(baseUrl: string, defaultToken?: string) {
  return async function api<T = any>(
    method: string,
    path: string,
    options: { body?: unknown; rawBody?: string; token?: string | null; headers?: Record<string, string> } = {},
  ): Promise<ApiResult<T>> {
    const token = options.token === undefined ? defaultToken : options.token;
    const headers: Record<string, string> = { ...options.headers };
    if (token) headers.authorization = `Bearer ${token}`;
    let payload: string | undefined;
    if (options.rawBody !== undefined) payload = options.rawBody;
    else if (options.body !== undefined) payload = JSON.stringify(options.body);
    if (payload !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
    const response = await fetch(`${baseUrl}${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
    const text = await response.text();
    holdToDocument({ method, url: response.url || `${baseUrl}${path}`, status: response.status, text, contentType: response.headers.get('content-type') });
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body: body as T, headers: response.headers };
  };
}

/** Polls `check` until it returns a value (not undefined), or fails after `timeoutMs` with the last state. */
export async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/** The answer is the JSON error a client is promised: this status, a code, a message naming `mentions`. */
export function expectError(result: ApiResult, status: number, ...mentions: string[]): void {
  expect(result.status, `${status} expected, got ${result.status}: ${JSON.stringify(result.body)}`).toBe(status);
  expect(result.body).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
  for (const mention of mentions) expect(result.body.error.message).toContain(mention);
}
