/**
 * `npm run bench`: figures, not assertions (machines here are shared and noisy).
 *
 * 1. The device hot path: `GET /state` answered 304, as most polls are. Requests per second and
 *    latency percentiles against the embedded host, and the DynamoDB requests per poll.
 * 2. A staged rollout of N simulated devices (3 batches, no delay, HTTP health checks): time per
 *    batch, and the DynamoDB and SQS requests it costs per device, by operation. Those counts are
 *    what a deployment pays for, whatever the machine.
 * 3. The poll hint: which hints the devices were given before and during that rollout, and the
 *    polls per device-hour a fleet following them makes, against an agent without a hint (its
 *    default of 30 s) and one polling at the short interval all the time to be as quick.
 * 4. Due times: a rollout of several batches with a short batch delay, and how late each next
 *    batch started after its due time (the batch's `next_batch_due_at` → the next batch's
 *    `started_at`), p50 and max. The host runs the production tick of 30 s, so what these figures
 *    show is the wake-up at the due time, not the tick.
 *
 *   npm run bench -- [--devices 300] [--poll-seconds 5] [--concurrency 16] [--delay-batches 6] [--delay-seconds 3]
 */
import { parseArgs } from 'node:util';
import { startHost } from '../../infra/embedded/host';
import { registerFleet, startHealthServers, startPolling } from '../../agent/simulator/fleet';
import { flow } from '../support/flow';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.env.LOG_LEVEL ??= 'warn';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '300' },
    'poll-seconds': { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '16' },
    'delay-batches': { type: 'string', default: '6' },
    'delay-seconds': { type: 'string', default: '3' },
  },
});
const fleetSize = Number(values.devices);
const pollSeconds = Number(values['poll-seconds']);
const concurrency = Number(values.concurrency);
const delayBatches = Number(values['delay-batches']);
const delaySeconds = Number(values['delay-seconds']);

// The production tick (30 s): progress and due times must not need a faster one.
const host = await startHost({ port: 0, dataDir: ':memory:', quiet: true });
const { dynamo, sqs } = await import('../../lib/aws-clients');

/** Counts every request the handlers make, by service and operation. */
const calls = new Map<string, number>();
for (const [service, client] of [
  ['dynamodb', dynamo()],
  ['sqs', sqs()],
] as const) {
  (client.middlewareStack as { add: (m: unknown, o: unknown) => void }).add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      const key = `${service} ${context.commandName ?? '?'}`;
      calls.set(key, (calls.get(key) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'benchCounter' },
  );
}
const snapshotCalls = () => new Map(calls);
const diffCalls = (before: Map<string, number>) =>
  [...calls].map(([key, n]) => [key, n - (before.get(key) ?? 0)] as const).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);

/** Polls by hint over the fleet, less those counted in `before`. */
function mergeHints(fleet: { hints: Map<number, number> }[], before = new Map<number, number>()): Map<number, number> {
  const merged = new Map<number, number>();
  for (const d of fleet) for (const [hint, n] of d.hints) merged.set(hint, (merged.get(hint) ?? 0) + n);
  for (const [hint, n] of before) merged.set(hint, (merged.get(hint) ?? 0) - n);
  return new Map([...merged].filter(([, n]) => n > 0).sort((a, b) => b[0] - a[0]));
}
const mostPolls = (hints: Map<number, number>) => [...hints].sort((a, b) => b[1] - a[1])[0]![0];
const describeHints = (hints: Map<number, number>) => [...hints].map(([hint, n]) => `${hint ? `${hint} s` : 'none'} × ${n}`).join(', ');

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const f = flow(host);

try {
  // 1. The hot path.
  const [probe] = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 1, image: 'bench/poll:1', namePrefix: 'poll' });
  await probe!.poll();
  const before = snapshotCalls();
  const latencies: number[] = [];
  const until = Date.now() + pollSeconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) {
        const started = performance.now();
        await probe!.poll();
        latencies.push(performance.now() - started);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const reads = diffCalls(before);
  console.log(`\nDevice poll, 304 Not Modified (${concurrency} concurrent clients, ${pollSeconds} s, embedded host)`);
  console.log(`  ${(latencies.length / pollSeconds).toFixed(0)} requests/s   p50 ${percentile(latencies, 50).toFixed(1)} ms   p99 ${percentile(latencies, 99).toFixed(1)} ms`);
  console.log(`  AWS requests per poll: ${reads.map(([k, n]) => `${k} ${(n / latencies.length).toFixed(2)}`).join(', ')}`);

  // 2. A whole rollout.
  const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: fleetSize, image: 'bench/app:1', namePrefix: 'bench' });
  const health = await startHealthServers(devices);
  // One poll each before the push: the idle hint, and every device on its target.
  await Promise.all(devices.map((d) => d.poll()));
  const idleHints = mergeHints(devices);
  const stopPolling = startPolling(devices, 1000);
  await f.createPolicy({
    image_pattern: 'bench/app:*',
    staged_batches: 3,
    batch_delay_minutes: 0,
    health_check_enabled: true,
    health_check_config: { type: 'http', endpoint: `http://{device_ip}:${health.port}/health`, timeout: 2, retries: 1 },
  });
  const rssBefore = process.memoryUsage().rss;
  const pollsBefore = devices.reduce((n, d) => n + d.polls, 0);
  const beforeRollout = snapshotCalls();
  const started = Date.now();
  const id = (await f.push('bench/app', '2')).body.rollouts[0].id;
  let looks = 0;
  let done: any;
  for (;;) {
    looks++;
    done = await f.rollout(id);
    if (done.rollout.status !== 'in_progress' && done.rollout.status !== 'pending') break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const seconds = (Date.now() - started) / 1000;
  const rolloutCalls = diffCalls(beforeRollout);
  const polls = devices.reduce((n, d) => n + d.polls, 0) - pollsBefore;
  await stopPolling();
  await health.stop();
  // What one look at the rollout costs, to take the bench's own watching out of the figures.
  const beforeLook = snapshotCalls();
  await f.rollout(id);
  const perLook = new Map(diffCalls(beforeLook));

  console.log(`\nStaged rollout of ${fleetSize} devices (3 batches, no delay, HTTP health checks, devices poll every 1 s)`);
  console.log(`  ${done.rollout.status} in ${seconds.toFixed(1)} s; healthy ${done.statistics.healthy}, rolled back ${done.statistics.rolled_back}`);
  for (const batch of done.rollout.batches) {
    const took = (Date.parse(batch.completed_at) - Date.parse(batch.started_at)) / 1000;
    console.log(`  batch ${batch.number}: ${String(batch.size).padStart(5)} devices in ${took.toFixed(1)} s`);
  }
  console.log(`  process RSS grew by ${((process.memoryUsage().rss - rssBefore) / 2 ** 20).toFixed(0)} MiB during the rollout`);
  // Each poll is one device read (measured above); take them out to see what the rollout itself costs.
  console.log(`  AWS requests per device for the rollout itself (without the ${(polls / fleetSize).toFixed(1)} polls each device made meanwhile, or the bench's ${looks} looks at the rollout):`);
  for (const [key, n] of rolloutCalls) {
    const own = n - (key === 'dynamodb GetItemCommand' ? polls : 0) - looks * (perLook.get(key) ?? 0);
    console.log(`    ${key.padEnd(36)} ${(own / fleetSize).toFixed(2)}`);
  }

  // 3. The poll hint. Devices polled once a second through the rollout, so a device's polls under
  // the short hint are about the seconds it spent told to poll soon.
  const rolloutHints = mergeHints(devices, idleHints);
  const idleHint = mostPolls(idleHints);
  const activeHint = Math.min(...[...rolloutHints.keys()].filter((h) => h > 0));
  const activeSeconds = (rolloutHints.get(activeHint) ?? 0) / fleetSize;
  const perHour = (seconds: number) => (3600 / seconds).toFixed(1);
  const dayWithRollout = (activeSeconds / activeHint + (86_400 - activeSeconds) / idleHint) / 24;
  console.log(`\nPoll hint (server defaults; the rollout above, devices polling every 1 s)`);
  console.log(`  hints answered: before the push ${describeHints(idleHints)}; during the rollout ${describeHints(rolloutHints)}`);
  console.log(`  each device was told to poll soon for ${activeSeconds.toFixed(1)} s of the rollout's ${seconds.toFixed(1)} s`);
  console.log(`  polls per device-hour: ${perHour(idleHint)} idle with the hint (${idleHint} s), ${perHour(activeHint)} while its batch is under way (${activeHint} s)`);
  console.log(`  without a hint: ${perHour(30)} (the agent's 30 s default), ${perHour(activeHint)} to pick up a batch as soon as with the hint`);
  console.log(`  a device-day with one such rollout: ${dayWithRollout.toFixed(2)} polls per device-hour with the hint`);

  // 4. Due times.
  const delayed = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 4 * delayBatches, image: 'bench/delay:1', namePrefix: 'delay' });
  const stopDelayed = startPolling(delayed, 200);
  await f.createPolicy({ image_pattern: 'bench/delay:*', staged_batches: delayBatches, batch_delay_minutes: delaySeconds / 60 });
  const delayedId = (await f.push('bench/delay', '2')).body.rollouts[0].id;
  const finished = await f.waitForStatus(delayedId, 'completed', 120_000 + delayBatches * delaySeconds * 1000);
  await stopDelayed();
  const dueTimes = new Map<number, string>();
  for (const event of await f.events(delayedId)) {
    if (event.type === 'image.batch_completed' && typeof event.details.next_batch_due_at === 'string') dueTimes.set(Number(event.details.batch), event.details.next_batch_due_at);
  }
  const lateness = finished.rollout.batches
    .filter((b: any) => b.number > 1)
    .map((b: any) => Date.parse(b.started_at) - Date.parse(dueTimes.get(b.number - 1)!))
    .sort((a: number, b: number) => a - b);
  console.log(`\nDue times: ${delayBatches} batches, ${delaySeconds} s batch delay, tick every 30 s`);
  console.log(`  next batch started after its due time: p50 ${percentile(lateness, 50).toFixed(0)} ms   max ${lateness[lateness.length - 1]!.toFixed(0)} ms   (${lateness.length} batch starts: ${lateness.join(', ')} ms)`);
} finally {
  await host.stop();
}
