/**
 * Requests exactly as written: fetch would resolve `..` and re-encode the path, so the fuzzer
 * talks node:http, over kept-alive connections like a real client. A reset or a hang-up is a
 * result of its own ('dropped'), not an exception, so a property can say what it saw.
 */
import { Agent, request } from 'node:http';

export interface RawRequest {
  method: string;
  /** Path and query, already encoded as they go on the wire. */
  target: string;
  headers: [string, string][];
  body?: string;
}

export type RawResult =
  | { kind: 'response'; status: number; headers: Record<string, string | string[] | undefined>; body: string }
  | { kind: 'dropped'; error: string };

export function rawClient(baseUrl: string) {
  const { hostname, port } = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  return {
    send(raw: RawRequest, timeoutMs = 30_000): Promise<RawResult> {
      return new Promise((resolve) => {
        const headers: Record<string, string | string[]> = {};
        for (const [name, value] of raw.headers) {
          const previous = headers[name];
          headers[name] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
        }
        // node:http frames a GET, HEAD, DELETE or OPTIONS body only when told its length.
        if (raw.body !== undefined) headers['content-length'] = String(Buffer.byteLength(raw.body, 'utf8'));
        const req = request({ hostname, port, method: raw.method, path: raw.target, headers, agent, timeout: timeoutMs }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ kind: 'response', status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', (error) => resolve({ kind: 'dropped', error: String(error) }));
        });
        req.on('timeout', () => req.destroy(new Error(`no response within ${timeoutMs} ms`)));
        req.on('error', (error) => resolve({ kind: 'dropped', error: String(error) }));
        req.end(raw.body);
      });
    },
    close(): void {
      agent.destroy();
    },
  };
}
