/**
 * One life of the chaos run's host: a child process (forked by run.ts) that starts the embedded
 * host on a fixed port and data dir, with the faults and slow writes in the handlers' SDK clients
 * and the redelivery fault in its queue triggers, and that dies by SIGKILL right after its Nth DynamoDB
 * write when told to. A kill, not a thrown error: no handler gets to clean up, no message is
 * deleted, the in-memory queues are lost, as when a Lambda sandbox or a whole host goes away.
 *
 *   argv: <port> <data dir> <fault seed> <fault rate> <crash after writes, 0 = never>
 *   CHAOS_PUSHED_AGAIN: a JSON list of the `repository:tag` pushed more than once (overtaken writes)
 *
 * It speaks to its parent over the IPC channel: `ready` (the host's URL, credentials and
 * endpoints), `stats` (faults, duplicates and writes so far, every 200 ms), and it takes
 * `{ type: 'faults', rate, crashAfterWrites }` (a new rate, and the crash armed afresh, counted
 * from then; 0 disarms it) and `{ type: 'stop' }`.
 */
import { installFaults, FaultPlan, redeliveryPlan, type Fault, type HoldEnd } from './faults';

export interface LifeStats {
  faults: number;
  faultsAfterWrite: number;
  /** Device writes held back before they were sent. */
  slowWrites: number;
  /** Target writes held back for a newer rollout's, and of those, the ones a newer write overtook. */
  heldWrites: number;
  overtakenWrites: number;
  duplicates: number;
  writes: number;
}

export type ChildMessage =
  | { type: 'ready'; url: string; port: number; adminApiKey: string; webhookSecret: string; dynamodb: string; tableName: string }
  | { type: 'stats'; stats: LifeStats }
  | { type: 'faults-set'; rate: number };

export type ParentMessage = { type: 'faults'; rate: number; crashAfterWrites: number } | { type: 'stop' };

const [portArg, dataDir, seedArg, rateArg, crashArg] = process.argv.slice(2);
const port = Number(portArg);
const seed = Number(seedArg);
const crashAfterWrites = Number(crashArg ?? 0);
if (!process.send || !dataDir || !Number.isInteger(port) || !Number.isInteger(seed) || !Number.isFinite(Number(rateArg))) {
  process.stderr.write('usage (forked with IPC): host-process <port> <data dir> <seed> <fault rate> <crash after writes>\n');
  process.exit(2);
}
const send = (message: ChildMessage) => process.send?.(message);

const stats: LifeStats = { faults: 0, faultsAfterWrite: 0, slowWrites: 0, heldWrites: 0, overtakenWrites: 0, duplicates: 0, writes: 0 };
let crashAt = crashAfterWrites > 0 ? crashAfterWrites : Infinity;

const { startHost } = await import('../../infra/embedded/host');
const host = await startHost({
  port,
  dataDir,
  tickSeconds: 1,
  quiet: true,
  redelivery: redeliveryPlan(seed ^ 0x5eed, (records) => (stats.duplicates += records)),
});

// The same module instances the handlers loaded (one module registry per process), so these are
// the very clients every handler sends with.
const { dynamo, sqs } = await import('../../lib/aws-clients');
const plan = new FaultPlan(seed, Number(rateArg), new Set(JSON.parse(process.env.CHAOS_PUSHED_AGAIN ?? '[]') as string[]));
const onFault = (fault: Fault) => {
  stats.faults++;
  if (fault.timing === 'after') stats.faultsAfterWrite++;
};
// The crash comes after the first write past its count at which no target write is held back: a
// held write that lands just before the crash is the race a slow write stands for.
const afterWrite = () => {
  stats.writes++;
  if (stats.writes >= crashAt && !plan.holding) {
    send({ type: 'stats', stats });
    process.kill(process.pid, 'SIGKILL');
  }
};
const onHold = (how: HoldEnd) => {
  stats.heldWrites++;
  if (how === 'overtaken') stats.overtakenWrites++;
};
installFaults(dynamo(), 'dynamodb', plan, { onFault, afterWrite, onDelay: () => stats.slowWrites++, onHold });
installFaults(sqs(), 'sqs', plan, { onFault });

const statsTimer = setInterval(() => send({ type: 'stats', stats }), 200);

process.on('message', (message: ParentMessage) => {
  if (message.type === 'faults') {
    plan.rate = message.rate;
    crashAt = message.crashAfterWrites > 0 ? stats.writes + message.crashAfterWrites : Infinity;
    send({ type: 'faults-set', rate: message.rate });
  } else if (message.type === 'stop') {
    clearInterval(statsTimer);
    send({ type: 'stats', stats });
    void host.stop().then(() => process.exit(0));
  }
});
// An orphan never outlives the run.
process.on('disconnect', () => void host.stop().finally(() => process.exit(1)));

send({ type: 'ready', url: host.url, port: host.port, adminApiKey: host.adminApiKey, webhookSecret: host.webhookSecret, dynamodb: host.endpoints.dynamodb, tableName: host.tableName });
