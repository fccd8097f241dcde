/**
 * Health checks of a batch's updated devices: one page of a shard per message, probed with
 * bounded concurrency. Each result moves the device to healthy or unhealthy; batch-advance then
 * rolls back the unhealthy ones (when the policy says so) and completes the batch.
 */
import { config } from '../config';
import { probeAll, type ProbeTarget } from '../health/probe';
import { sendHealthCommands, sendOrchestration, type HealthCommand } from '../queues/messages';
import { getDevicesByUuid } from '../store/devices';
import { queryRowsInRange } from '../store/rollout-devices';
import { getRollout } from '../store/rollouts';
import { deviceEvent, moveRow } from './device-transitions';

export async function checkHealthPage(command: HealthCommand, now: Date): Promise<void> {
  const rollout = await getRollout(command.rollout_id);
  const batch = rollout?.batches[command.batch - 1];
  const check = rollout?.policy.health_check_config;
  if (!rollout || !batch || !check || rollout.status !== 'in_progress' || batch.status !== 'in_progress') return;

  // One page is one round of concurrent probes, so an invocation lasts at most one probe's worst case.
  const { healthCheckConcurrency, healthCheckPolicy } = config();
  const page = await queryRowsInRange(rollout.id, command.shard, batch.first_seq, batch.size, healthCheckConcurrency, command.start_key);
  const rows = page.rows.filter((row) => row.status === 'updated');
  const devices = new Map((await getDevicesByUuid(rows.map((r) => r.device_uuid))).map((d) => [d.uuid, d]));
  const checkable = rows.filter((row) => devices.has(row.device_uuid));
  const targets: ProbeTarget[] = checkable.map((row) => ({ device: devices.get(row.device_uuid)!, app: row.app, expectedImage: row.new_image }));
  const results = await probeAll(check, targets, { policy: healthCheckPolicy, concurrency: healthCheckConcurrency });

  const at = now.toISOString();
  for (const [i, row] of checkable.entries()) {
    const result = results[i]!;
    const to = result.healthy ? 'healthy' : 'unhealthy';
    const move = await moveRow(row, batch.number, to, at, result.healthy ? {} : { error: result.reason });
    if (!move) continue;
    // The move's own time, not this check's: a check repeated while the first was still probing
    // (a re-sent fan-out, a redelivery) finds the row moved and its event under the same id.
    await deviceEvent(result.healthy ? 'image.health_check_passed' : 'image.health_check_failed', row, move.at, {
      batch: batch.number,
      check: check.type,
      reason: result.reason,
      attempts: result.attempts,
      duration_ms: result.duration_ms,
    });
  }
  for (const row of rows.filter((r) => !devices.has(r.device_uuid))) {
    const move = await moveRow(row, batch.number, 'unhealthy', at, { error: 'device no longer exists' });
    if (move) await deviceEvent('image.health_check_failed', row, move.at, { batch: batch.number, check: check.type, reason: 'device no longer exists' });
  }

  if (page.lastKey) await sendHealthCommands([{ ...command, start_key: page.lastKey }]);
  else await sendOrchestration({ type: 'evaluate', rollout_id: rollout.id, reason: 'health checks done' }, `health-${command.batch}-${command.shard}-${at}`);
}
