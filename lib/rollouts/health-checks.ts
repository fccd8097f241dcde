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
import { noDeadline, workPages, type Budget } from '../queues/budget';
import { sendHealthCommands, sendOrchestration, type HealthCommand } from '../queues/messages';
import { getDevicesByUuid } from '../store/devices';
import { queryRowsInRange } from '../store/rollout-devices';
import { getRollout } from '../store/rollouts';
import { countMoves, deviceEvent, transitionRow, type Move } from './device-transitions';

/** Rows moved (and their events written) at once once a page's probes are in. */
const recordConcurrency = 16;

export async function checkHealthShard(command: HealthCommand, now: Date, budget: Budget = noDeadline): Promise<void> {
  const first = checking(await getRollout(command.rollout_id), command.batch);
  if (!first) return;
  const { rollout, batch } = first;
  let pages = 0;
  const rest = await workPages(
    budget,
    command.start_key,
    (startKey) => queryRowsInRange(rollout.id, command.shard, batch.first_seq, batch.size, config().healthCheckConcurrency, startKey),
    async (rows) => {
      // Each page after the first looks at the rollout again: a pause or cancel stops the checks.
      const current = pages++ === 0 ? first : checking(await getRollout(rollout.id), command.batch);
      if (!current) return false;
      await checkPage(current.rollout, current.batch, current.check, command.shard, rows, now);
      return true;
    },
  );
  if (rest.stopped) return;
  if (rest.startKey) await sendHealthCommands([{ ...command, start_key: rest.startKey }]);
  else await sendOrchestration({ type: 'evaluate', rollout_id: rollout.id, reason: 'health checks done' }, `health-${command.batch}-${command.shard}-${now.toISOString()}`);
}

function checking(rollout: Rollout | undefined, number: number): { rollout: Rollout; batch: Batch; check: HealthCheckConfig } | undefined {
  const batch = rollout?.batches[number - 1];
  const check = rollout?.policy.health_check_config;
  if (!rollout || !batch || !check || rollout.status !== 'in_progress' || batch.status !== 'in_progress') return undefined;
  return { rollout, batch, check };
}

/** Probes a page's updated devices at once, then records each verdict; the page's moves are counted with one write. */
async function checkPage(rollout: Rollout, batch: Batch, check: HealthCheckConfig, shard: number, page: RolloutDevice[], now: Date): Promise<void> {
  const rows = page.filter((row) => row.status === 'updated');
  if (rows.length === 0) return;
  const { healthCheckConcurrency, healthCheckPolicy } = config();
  const devices = new Map((await getDevicesByUuid(rows.map((r) => r.device_uuid))).map((d) => [d.uuid, d]));
  const checkable = rows.filter((row) => devices.has(row.device_uuid));
  const targets: ProbeTarget[] = checkable.map((row) => ({ device: devices.get(row.device_uuid)!, app: row.app, expectedImage: row.new_image }));
  const results = new Map((await probeAll(check, targets, { policy: healthCheckPolicy, concurrency: healthCheckConcurrency })).map((result, i) => [checkable[i]!, result]));

  const at = now.toISOString();
  const moves = await pMap(
    rows,
    async (row): Promise<Move | undefined> => {
      const result = results.get(row) ?? { healthy: false, reason: 'device no longer exists' };
      const move = await transitionRow(row, batch.number, result.healthy ? 'healthy' : 'unhealthy', at, result.healthy ? {} : { error: result.reason });
      if (!move) return undefined;
      // The move's own time, not this check's: a check repeated while the first was still probing
      // (a re-sent fan-out, a redelivery) finds the row moved and its event under the same id.
      await deviceEvent(result.healthy ? 'image.health_check_passed' : 'image.health_check_failed', row, move.at, {
        batch: batch.number,
        check: check.type,
        reason: result.reason,
        ...('attempts' in result ? { attempts: result.attempts, duration_ms: result.duration_ms } : {}),
      });
      return move;
    },
    { concurrency: recordConcurrency },
  );
  await countMoves({ rollout_id: rollout.id, shard }, batch.number, moves);
}
