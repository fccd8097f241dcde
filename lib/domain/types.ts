/** The vocabulary of the system, as plain data. Wire names are snake_case, as in the API. */
import type { Approval } from './approvals';
import type { MaintenanceWindow } from './maintenance-windows';
import type { TagPolicy } from './tag-policy';

export const updateStrategies = ['auto', 'staged', 'manual'] as const;
export type UpdateStrategy = (typeof updateStrategies)[number];

export type HealthCheckConfig =
  | {
      type: 'http';
      endpoint: string;
      expectedStatusCode?: number;
      expectedBody?: string;
      timeout?: number;
      retries?: number;
    }
  | { type: 'tcp'; host: string; port: number; timeout?: number; retries?: number }
  | { type: 'container'; containerName: string; timeout?: number; retries?: number };

/** What an admin configures; a rollout keeps a copy, so editing a policy never changes a running rollout. */
export interface PolicySettings {
  image_pattern: string;
  update_strategy: UpdateStrategy;
  /** Cumulative percentages of the fleet after each batch, ending at 100. */
  batch_percentages: number[];
  batch_delay_minutes: number;
  update_timeout_minutes: number;
  health_check_enabled: boolean;
  health_check_config: HealthCheckConfig | null;
  auto_rollback_enabled: boolean;
  max_failure_rate: number;
  /**
   * Batches start only while one of these is open; none means any time. Absent on policies and
   * rollouts stored before windows existed, as are the other optional settings below.
   */
  maintenance_windows?: MaintenanceWindow[];
  /** Distinct admin keys that must approve before the rollout starts (0: none). */
  approvals_required?: number;
  /** A rollout still waiting for its approvals this long after it was created is cancelled (null: never). */
  approval_deadline_minutes?: number | null;
  /** The rollout pauses after each batch but the last until approved. */
  approve_each_batch?: boolean;
  /** A device that fails its update or health check is scheduled again up to this many times (0-3) before it counts as failed. */
  retry_failed?: number;
  /**
   * Only devices whose labels have every one of these keys with its value are in the policy's
   * rollouts; `{}` is every device. Absent on policies and rollouts saved before targeting: `{}`.
   */
  device_selector?: Record<string, string>;
  /**
   * Planning puts the devices matching the first selector first, then those matching the second
   * (and no earlier one), …, then the rest, so that the first batches take them. Absent: `[]`.
   */
  batch_order?: Record<string, string>[];
  /**
   * At most this many of the rollout's devices are given the new image in any 60 seconds; null: no
   * limit. This and `max_unavailable` are absent from settings stored before they existed: no limit.
   */
  max_devices_per_minute?: number | null;
  /**
   * At most this many of the rollout's devices unavailable at once (scheduled and not yet reported
   * running the new image, unhealthy, or failed and not rolled back); null: no limit.
   */
  max_unavailable?: number | null;
  /**
   * Which matching tags roll out (lib/domain/tag-policy.ts): `glob`, every tag `image_pattern`
   * matches; `semver` within `semver_range`; `major`, `minor`, `patch` forward within that level.
   * Absent on settings stored before tag policies, as are the two below: `glob`.
   */
  tag_policy?: TagPolicy;
  /** With `semver`: the range of versions (`^1.2`); null otherwise. */
  semver_range?: string | null;
  /** Prerelease versions (`1.3.0-rc.1`) roll out under a non-glob tag policy only when true. */
  include_prereleases?: boolean;
}

export interface Policy extends PolicySettings {
  id: string;
  name: string | null;
  enabled: boolean;
  /** When several enabled policies match a push, the highest priority wins (default 0). */
  priority: number;
  created_at: string;
  updated_at: string;
}

export const rolloutStatuses = [
  'pending',
  'in_progress',
  'paused',
  'completed',
  'cancelled',
  'rolled_back',
  'failed',
] as const;
export type RolloutStatus = (typeof rolloutStatuses)[number];

export const activeRolloutStatuses: readonly RolloutStatus[] = ['pending', 'in_progress', 'paused'];

export const deviceRolloutStatuses = [
  'pending',
  'scheduled',
  'updated',
  'healthy',
  'unhealthy',
  'failed',
  'rolled_back',
  /** Never reached: the rollout ended (cancelled, rolled back, failed) before the device updated. */
  'skipped',
] as const;
export type DeviceRolloutStatus = (typeof deviceRolloutStatuses)[number];

/** How many of a batch's devices are in each status (summed over shards). */
export type StatusCounts = Record<DeviceRolloutStatus, number>;
/**
 * A batch's counts by status, and how many of its devices failed (update error or timeout, or an
 * unhealthy health check). Failures only ever grow: a failed device that is rolled back since
 * leaves `failed` but remains a failure, while one an admin rolls back when it was fine is none.
 */
export type BatchCounts = StatusCounts & { failures: number };

/** `stopped`: the rollout ended (cancelled, rolled back, failed) before the batch finished. */
export type BatchStatus = 'pending' | 'in_progress' | 'completed' | 'stopped';

export interface Batch {
  number: number;
  /** Cumulative share of the rollout's devices once this batch is done. */
  percentage: number;
  /** Devices in this batch; known once planning has finished. */
  size: number;
  /** Device sequence numbers [first_seq, first_seq + size). */
  first_seq: number;
  /**
   * Devices that joined the batch after planning (registered, or newly matching the selector,
   * while the rollout was under way): sequence numbers from `joinedFirstSeq(number)` on, counted
   * in the batch beside its `size` planned ones. Absent: none.
   */
  joined_devices?: number;
  status: BatchStatus;
  started_at?: string;
  /** Devices still not updated at this time are failed with an update timeout. */
  deadline_at?: string;
  /** When the batch's devices were (last) handed to the schedule queue. */
  schedule_requested_at?: string;
  /** When an admin last resumed the rollout during this batch: a paced device's update timeout counts from then at the earliest. */
  resumed_at?: string;
  /** When the batch's counters were last recounted from its rows. */
  recounted_at?: string;
  /** When the batch's updated devices were handed to the health queue. */
  health_checks_requested_at?: string;
  /** When the batch's failed and unhealthy devices were handed to the rollback queue. */
  rollbacks_requested_at?: string;
  completed_at?: string;
  stopped_at?: string;
  /** Rounds of `retry_failed` done: each scheduled the batch's failed and unhealthy devices again. */
  retry_rounds?: number;
}

export interface Planning {
  done: boolean;
  /** Eligible devices recorded so far; their sequence numbers are 0 … assigned - 1. */
  assigned: number;
  /** Where the next page of the repository's devices starts. */
  next_key?: Record<string, unknown>;
  /**
   * With a `batch_order`, planning goes over the repository's devices once per group, taking
   * only the devices of that group: the group of the pass under way (0 … batch_order.length, the
   * last being the devices no entry matches). Absent without a batch order: one pass.
   */
  group?: number;
}

export interface Rollout {
  id: string;
  policy_id: string;
  registry: string;
  repository: string;
  tag: string;
  digest?: string;
  /**
   * The image devices are moved to: `repository:tag@digest` when the registry named the digest,
   * else `repository:tag` (a moving tag: devices on it are moved again and pull it anew).
   */
  image: string;
  pushed_at: string;
  delivery_id: string;
  status: RolloutStatus;
  status_reason?: string;
  policy: PolicySettings;
  batches: Batch[];
  /** 0 before the first batch starts. */
  current_batch: number;
  /** When the next batch may start (the batch delay); never set on a rollout that paused itself. */
  next_batch_due_at?: string;
  /** The due time a wake-up was last sent for, so that each due time is sent one wake-up, not one per evaluation. */
  wake_requested_for?: string;
  planning: Planning;
  /** A manual rollout an admin started while it was still being planned: it starts once planned. */
  start_requested_at?: string;
  /** When an admin scheduled the (manual) rollout to start; it stays pending until then. */
  start_at?: string;
  /** The next batch waits for a maintenance window, which opens then. */
  next_window_at?: string;
  /** An admin fast-forwarded the rollout: the remaining batches run as one, without delays or windows. */
  promotion?: Promotion;
  /** The approvals given so far, for the start and after batches. */
  approvals?: Approval[];
  /** When the start's approvals are due; the rollout is cancelled if they have not all come by then. */
  approval_deadline_at?: string;
  /** Paused after this batch until approved (`approve_each_batch`). */
  awaiting_approval?: { after_batch: number };
  /**
   * The device sweep its ending started (cancel, rollback-all, failure), written with the ending
   * and kept until every shard has been swept and found nothing left to revert: a crash or a
   * failed call after the ending must not leave devices pending, scheduled or on the new image.
   */
  sweep?: Sweep;
  total_devices: number;
  shard_count: number;
  version: number;
  created_at: string;
  updated_at: string;
  started_at?: string;
  completed_at?: string;
}

export interface Promotion {
  reason: string;
  /** The health checks are skipped too, from the promotion on. */
  full: boolean;
  at: string;
  /** The admin key that promoted it, when known. */
  by?: string;
}

/** What an ending does to the rollout's devices (lib/rollouts/rollbacks.ts), and when it was last asked for. */
export interface Sweep {
  /** Devices in these statuses are put back on their previous image. */
  from: DeviceRolloutStatus[];
  /** What a device that had been given the new image becomes; one never reached becomes `skipped`. */
  to: 'rolled_back' | 'skipped';
  reason: string;
  /** A newer push superseded the rollout: rows end, but targets stay for the newer rollout. */
  hand_over?: boolean;
  requested_at: string;
}

export interface DeviceApp {
  name: string;
  image: string;
}

/** An app of a device's target state: its image and, when set, how its container is run. */
export interface TargetApp extends DeviceApp {
  /** Plain data; its schema is lib/container-settings.ts. */
  container?: {
    command?: string[];
    env?: Record<string, string>;
    network_mode?: 'host' | 'bridge';
    ports?: string[];
    volumes?: string[];
    restart_policy?: 'no' | 'always' | 'unless-stopped' | 'on-failure';
  };
}

export interface ReportedApp extends DeviceApp {
  status: string;
  /** The content digest the device runs (`sha256:…`), when its agent knows it. */
  digest?: string;
}

/** A device's membership in a rollout that has not finished for it, kept on the device item. */
export interface RolloutPointer {
  rollout_id: string;
  shard: number;
  seq: number;
  batch: number;
  image: string;
  /** The digest the rollout moves the app to, when the registry named it. */
  digest?: string;
  /** The digest the device reported running before it was scheduled, if it reported one. */
  previous_digest?: string;
  /** The device's target version once this rollout set the app's target. */
  target_version?: number;
  /** Its rollout has a `max_unavailable` budget: its report wakes the paced scheduler (lib/rollouts/pacing.ts). */
  budgeted?: boolean;
}

export interface Device {
  uuid: string;
  name: string;
  ip_address: string | null;
  target_apps: TargetApp[];
  target_version: number;
  current_apps: ReportedApp[];
  current_error: string | null;
  reported_at: string | null;
  /** Active rollouts by app name. */
  rollouts: Record<string, RolloutPointer>;
  /**
   * By app name, the rank (see `rolloutRank`) of the rollout that last set the app's target.
   * A rollout never overwrites a target set by a newer one, and only undoes what it set itself.
   */
  target_set_by: Record<string, string>;
  /**
   * By app name, the sequence number of the device's row in that rollout, so that a later rollout
   * can find the row in one read. Absent on devices registered before it was kept.
   */
  target_set_seq?: Record<string, number>;
  /** The id of the provisioning key that registered the device; absent when an admin registered it. */
  provisioned_by?: string;
  /** Set by admins and reported by the device's agent; absent on devices registered before labels. */
  labels?: Record<string, string>;
  created_at: string;
  updated_at: string;
}

export interface RolloutDevice {
  rollout_id: string;
  device_uuid: string;
  device_name: string;
  app: string;
  seq: number;
  shard: number;
  batch: number | null;
  status: DeviceRolloutStatus;
  previous_image: string;
  /** The digest the device reported running when it was scheduled, if any. */
  previous_digest?: string;
  new_image: string;
  error?: string;
  /** When the device failed its update or its health check; kept when it is rolled back. */
  failed_at?: string;
  /** Why it was rolled back (an admin's reason, or what the rollout's rules decided). */
  rollback_reason?: string;
  scheduled_at?: string;
  /** How many times the device has been given the new image: 1, and one more for each retry (absent: 1). */
  attempts?: number;
  /** The error of its last failed attempt, once it was retried. */
  last_error?: string;
  updated_at: string;
}

export const eventTypes = [
  'image.webhook_received',
  'image.rollout_created',
  /** An admin scheduled the rollout's start for a later time. */
  'image.rollout_start_scheduled',
  'image.rollout_started',
  'image.device_scheduled',
  'image.device_updated',
  'image.device_failed',
  /** A device that failed is scheduled again (`retry_failed`). */
  'image.device_retried',
  'image.health_check_passed',
  'image.health_check_failed',
  'image.device_rolled_back',
  /** A device left the rollout before it was done with it (it was deleted): it never counts as processed. */
  'image.device_skipped',
  /** A device registered, or newly matching the selector, while the rollout was under way (or done) joined a batch. */
  'image.device_joined',
  'image.batch_started',
  'image.batch_completed',
  /** The next batch waits for a maintenance window to open. */
  'image.batch_waiting',
  'image.rollout_paused',
  'image.rollout_resumed',
  /** An admin approved the rollout's start, or going on after a batch. */
  'image.rollout_approved',
  /** An admin fast-forwarded the rollout: the remaining batches now, without delays or windows. */
  'image.rollout_promoted',
  'image.rollout_cancelled',
  'image.rollout_rolled_back',
  'image.rollout_completed',
  'image.rollout_failed',
] as const;
export type EventType = (typeof eventTypes)[number];

export interface RolloutEvent {
  id: string;
  type: EventType;
  rollout_id: string;
  device_uuid?: string;
  timestamp: string;
  details: Record<string, unknown>;
}
