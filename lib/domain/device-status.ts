/**
 * What an operator wants to know of a device at a glance, derived from what it last reported:
 * `offline` when it has not reported for `offlineAfterMs` (or never has), `error` when its last
 * report carried one, `updating` while a rollout waits to hear from it, `online` otherwise. In
 * that order: a silent device is offline whatever it was doing when it went quiet.
 */
export const deviceStatuses = ['online', 'offline', 'updating', 'error'] as const;
export type DeviceStatus = (typeof deviceStatuses)[number];

/**
 * The agent reports at least every 10 minutes even when nothing changes (agent/agent.ts
 * `reportEveryMs`): three missed reports make a device offline.
 */
export const offlineAfterMs = 30 * 60_000;

export function deviceStatusOf(
  device: { reported_at: string | null; current_error: string | null; rollouts?: Record<string, unknown> },
  now: Date,
  silentFor = offlineAfterMs,
): DeviceStatus {
  if (device.reported_at === null || now.getTime() - Date.parse(device.reported_at) > silentFor) return 'offline';
  if (device.current_error !== null) return 'error';
  if (Object.keys(device.rollouts ?? {}).length > 0) return 'updating';
  return 'online';
}
