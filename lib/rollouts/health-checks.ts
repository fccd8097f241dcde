/**
 * Health checks of a batch's updated devices in one shard: a page at a time, each page one round
 * of concurrent probes, for as long as the invocation's budget allows. Each result moves the
 * device to healthy or unhealthy; batch-advance then rolls back the unhealthy ones (when the
 * policy says so) and completes the batch.
 */
import pMap from 'p-map';
import { config } from '../config';
import type { Batch, HealthCheckConfig, Rollout, RolloutDevice } from '../domain/types';
import { probeAll, type ProbeTarget } from '../health/probe';
import { noDeadline, type Budget } from '../queues/budget';
import { sendHealthCommands, sendOrchestration, type HealthCommand } from '../queues/messages';
import { getDevicesByUuid } from '../store/devices';
import { appendEvents, appendMissingEvents } from '../store/events';
import { workBatchShard } from './batch-shard';
import { countMoves, deviceFact, transitionRow } from './device-transitions';

/** Rows moved at once once a page's probes are in (8, as a schedule's, for the shard partition's sake). */
const recordConcurrency = 8;

export async function checkHealthShard(command: HealthCommand, now: Date, budget: Budget = noDeadline): Promise<void> {
  const rest = await workBatchShard(command, checking, config().healthCheckConcurrency, now, budget, ({ rollout, batch, check }, rows, pageNow) =>
    checkPage(rollout, batch, check, command.shard, rows, pageNow),
  );
  if (rest.startKey) await sendHealthCommands([{ ...command, start_key: rest.startKey }]);
  else if (rest.done) await sendOrchestration({ type: 'evaluate', rollout_id: command.rollout_id, reason: 'health checks done' }, `health-${command.batch}-${command.shard}-${now.toISOString()}`);
}

function checking(rollout: Rollout | undefined, number: number): { rollout: Rollout; batch: Batch; check: HealthCheckConfig } | undefined {
  const batch = rollout?.batches[number - 1];
  const check = rollout?.policy.health_check_config;
  if (!rollout || !batch || !check || rollout.status !== 'in_progress' || batch.status !== 'in_progress') return undefined;
  return { rollout, batch, check };
}

/**
 * Probes a page's updated devices at once, then moves their rows and records the verdicts; the
 * moves are counted with one write. A verdict's id comes from its move's time, so a check
 * repeated while the first was still probing (a redelivery) finds the rows moved and records
 * each verdict under the id it already has. Rows of the page already checked have their verdict
 * recorded if a crash fell between their move and it.
 */
async function checkPage(rollout: Rollout, batch: Batch, check: HealthCheckConfig, shard: number, page: RolloutDevice[], now: Date): Promise<void> {
  const checked = page.filter((row) => row.status === 'healthy' || row.status === 'unhealthy');
  if (checked.length > 0) await appendMissingEvents(checked.map((row) => verdictFact(row, row.status === 'healthy', row.updated_at, { batch: batch.number, check: check.type, reason: row.error })));
  const rows = page.filter((row) => row.status === 'updated');
  if (rows.length === 0) return;
  const { healthCheckConcurrency, healthCheckPolicy } = config();
  const devices = new Map((await getDevicesByUuid(rows.map((r) => r.device_uuid))).map((d) => [d.uuid, d]));
  const checkable = rows.filter((row) => devices.has(row.device_uuid));
  const targets: ProbeTarget[] = checkable.map((row) => ({ device: devices.get(row.device_uuid)!, app: row.app, expectedImage: row.new_image }));
  const results = new Map((await probeAll(check, targets, { policy: healthCheckPolicy, concurrency: healthCheckConcurrency })).map((result, i) => [checkable[i]!, result]));

  const at = now.toISOString();
  const moved = await pMap(
    rows,
    async (row) => {
      const result = results.get(row) ?? { healthy: false, reason: 'device no longer exists' };
      const move = await transitionRow(row, batch.number, result.healthy ? 'healthy' : 'unhealthy', at, result.healthy ? {} : { error: result.reason });
      if (!move) return { move };
      const details = { batch: batch.number, check: check.type, reason: result.reason, ...('attempts' in result ? { attempts: result.attempts, duration_ms: result.duration_ms } : {}) };
      return { move, fact: verdictFact(row, result.healthy, move.at, details) };
    },
    { concurrency: recordConcurrency },
  );
  // A row another check moved meanwhile has its verdict from that check: looked for, not written again.
  await appendEvents(moved.flatMap((m) => (m.fact && m.move?.moved ? [m.fact] : [])));
  await appendMissingEvents(moved.flatMap((m) => (m.fact && !m.move?.moved ? [m.fact] : [])));
  await countMoves({ rollout_id: rollout.id, shard }, batch.number, moved.map((m) => m.move));
}

function verdictFact(row: RolloutDevice, healthy: boolean, at: string, details: Record<string, unknown>) {
  return deviceFact(healthy ? 'image.health_check_passed' : 'image.health_check_failed', row, at, details);
}
