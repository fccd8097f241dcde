/** Closed-loop load: a number of clients each sending its next request as soon as the last is answered. */

export interface ClientRun {
  requests: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

/** `concurrency` loops calling `request` until `seconds` have passed. */
export async function clients(seconds: number, concurrency: number, request: () => Promise<unknown>): Promise<ClientRun> {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const sent = performance.now();
        try {
          await request();
          latencies.push(performance.now() - sent);
        } catch {
          errors++;
        }
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  return { requests: latencies.length, seconds: (performance.now() - started) / 1000, p50Ms: at(50), p99Ms: at(99), errors };
}
