/** Update policies: the admin's rules for which pushes roll out, and how. */
import { isIP } from 'node:net';
import { ulid } from 'ulid';
import { z } from 'zod';
import { maxStagedBatches, stagedPercentages, validatePercentages } from './domain/batch-plan';
import { maxApprovalDeadlineMinutes, maxApprovalsRequired } from './domain/approvals';
import { cronProblem, maxMaintenanceWindows, maxWindowMinutes, timezoneProblem } from './domain/maintenance-windows';
import { contradiction, maxBatchOrder } from './domain/labels';
import { validateImagePattern } from './domain/policy-match';
import { maxSemverRangeLength, semverRangeProblem, tagPolicies } from './domain/tag-policy';
import { updateStrategies, type Policy, type PolicySettings } from './domain/types';
import { NotFound } from './errors';
import { labelsViewSchema, nonEmptySelectorSchema, selectorSchema } from './labels';
import { deletePolicy, getPolicy, listPolicies, putPolicy } from './store/policies';
import type { Page } from './store/table';

/**
 * A fractional number the table can hold: DynamoDB refuses a write with a number closer to zero
 * than 1e-130, which would otherwise turn a client's value into a failed request.
 */
const number = () => z.number().refine((value) => value === 0 || Math.abs(value) >= 1e-130, 'must be 0 or at least 1e-130');

/**
 * One probe attempt waits at most a minute and is tried at most four times, so a health-check
 * invocation (one round of probes, see lib/rollouts/health-checks.ts) fits its function timeout.
 */
const seconds = number().positive().max(60);
const retries = z.number().int().min(0).max(3);
/** `retry_failed`: each retry round is another update timeout for the batch, so a few at most. */
const maxRetries = 3;

const hostLabel = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/**
 * Why `host` cannot be what a TCP check connects to, or undefined when it can: a host name, an
 * IPv4 or IPv6 address (bracketed or not), `{device_ip}` alone, or a name with `{device_name}` in
 * it (lib/health/probe.ts fills both). The port has a field of its own, so a host never carries one;
 * a scheme, path or space would only ever fail at probe time, batch after batch.
 */
export function tcpHostProblem(host: string): string | undefined {
  const placeholders = host.match(/\{[^}]*\}/g) ?? [];
  const unknown = placeholders.find((p) => p !== '{device_ip}' && p !== '{device_name}');
  if (unknown) return `${unknown} is not a placeholder: use {device_ip} or {device_name}`;
  if (host.includes('{device_ip}')) {
    return host === '{device_ip}' || host === '[{device_ip}]' ? undefined : 'must be {device_ip} alone, without a port or anything around it';
  }
  const literal = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(literal) === 6 && !literal.includes('%')) return undefined;
  if (literal !== host) return 'must be an IPv6 address inside brackets';
  if (isIP(host) === 4) return undefined;
  const name = host.replaceAll('{device_name}', 'device');
  const labels = name.split('.');
  if (name.length > 253 || !labels.every((label) => hostLabel.test(label)) || /^\d+$/.test(labels.at(-1)!)) {
    return 'must be a host name, an IP address, {device_ip} or a name with {device_name}, without a scheme, port, path or spaces';
  }
  return undefined;
}

export const healthCheckConfigSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('http'),
    endpoint: z.string().min(1).max(2048).refine((value) => /^https?:\/\//.test(value), 'must start with http:// or https://'),
    expectedStatusCode: z.number().int().min(100).max(599).optional(),
    expectedBody: z.string().max(1024).optional(),
    timeout: seconds.optional(),
    retries: retries.optional(),
  }),
  z.strictObject({
    type: z.literal('tcp'),
    host: z.string().superRefine((value, ctx) => {
      const problem = tcpHostProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
    port: z.number().int().min(1).max(65535),
    timeout: seconds.optional(),
    retries: retries.optional(),
  }),
  z.strictObject({
    type: z.literal('container'),
    containerName: z.string().min(1).max(128),
    timeout: seconds.optional(),
    retries: retries.optional(),
  }),
]);

export const maintenanceWindowSchema = z.strictObject({
  cron: z.string().max(256).superRefine((value, ctx) => {
    const problem = cronProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  duration_minutes: z.number().int().min(1).max(maxWindowMinutes),
  timezone: z
    .string()
    .max(64)
    .default('UTC')
    .superRefine((value, ctx) => {
      const problem = timezoneProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
});

export const policyInputSchema = z
  .strictObject({
    name: z.string().min(1).max(128).nullable().optional(),
    enabled: z.boolean().default(true),
    priority: z.number().int().min(-1000).max(1000).default(0),
    image_pattern: z.string().superRefine((value, ctx) => {
      const problem = validateImagePattern(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
    update_strategy: z.enum(updateStrategies).default('staged'),
    staged_batches: z.number().int().min(1).max(maxStagedBatches).optional(),
    batch_percentages: z
      .array(number())
      .optional()
      .superRefine((value, ctx) => {
        const problem = value && validatePercentages(value);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    batch_delay_minutes: number().min(0).max(10080).default(30),
    update_timeout_minutes: number().positive().max(10080).default(30),
    health_check_enabled: z.boolean().default(false),
    health_check_config: healthCheckConfigSchema.nullable().default(null),
    auto_rollback_enabled: z.boolean().default(true),
    max_failure_rate: number().min(0).max(1).default(0.2),
    maintenance_windows: z.array(maintenanceWindowSchema).max(maxMaintenanceWindows).default([]),
    approvals_required: z.number().int().min(0).max(maxApprovalsRequired).default(0),
    approval_deadline_minutes: number().positive().max(maxApprovalDeadlineMinutes).nullable().default(null),
    approve_each_batch: z.boolean().default(false),
    retry_failed: z.number().int().min(0).max(maxRetries).default(0),
    device_selector: selectorSchema.default({}),
    batch_order: z.array(nonEmptySelectorSchema).max(maxBatchOrder).default([]),
    max_devices_per_minute: z.number().int().min(1).max(1_000_000).nullable().default(null),
    max_unavailable: z.number().int().min(1).max(1_000_000).nullable().default(null),
    tag_policy: z.enum(tagPolicies).default('glob'),
    semver_range: z
      .string()
      .max(maxSemverRangeLength)
      .superRefine((value, ctx) => {
        const problem = semverRangeProblem(value);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .nullable()
      .default(null),
    include_prereleases: z.boolean().default(false),
  })
  .superRefine((input, ctx) => {
    if (input.tag_policy === 'semver' && input.semver_range === null) {
      ctx.addIssue({ code: 'custom', path: ['semver_range'], message: 'is required when tag_policy is semver' });
    }
    if (input.tag_policy !== 'semver' && input.semver_range !== null) {
      ctx.addIssue({ code: 'custom', path: ['semver_range'], message: 'is only used with tag_policy semver' });
    }
    if (input.tag_policy === 'glob' && input.include_prereleases) {
      ctx.addIssue({ code: 'custom', path: ['include_prereleases'], message: 'is only used with tag_policy semver, major, minor or patch (glob takes every tag image_pattern matches)' });
    }
    input.batch_order.forEach((entry, i) => {
      const problem = contradiction(input.device_selector, entry);
      if (problem) ctx.addIssue({ code: 'custom', path: ['batch_order', i], message: problem });
    });
    if (input.staged_batches !== undefined && input.batch_percentages !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['batch_percentages'], message: 'give staged_batches or batch_percentages, not both' });
    }
    if (input.approval_deadline_minutes !== null && input.approvals_required === 0) {
      ctx.addIssue({ code: 'custom', path: ['approval_deadline_minutes'], message: 'is only used with approvals_required above 0' });
    }
    if (input.health_check_enabled && !input.health_check_config) {
      ctx.addIssue({ code: 'custom', path: ['health_check_config'], message: 'is required when health_check_enabled is true' });
    }
  });
export type PolicyInput = z.infer<typeof policyInputSchema>;

function settingsFrom(input: PolicyInput): PolicySettings {
  return {
    image_pattern: input.image_pattern,
    update_strategy: input.update_strategy,
    batch_percentages: input.batch_percentages ?? stagedPercentages(input.staged_batches ?? 3),
    batch_delay_minutes: input.batch_delay_minutes,
    update_timeout_minutes: input.update_timeout_minutes,
    health_check_enabled: input.health_check_enabled,
    health_check_config: input.health_check_config,
    auto_rollback_enabled: input.auto_rollback_enabled,
    max_failure_rate: input.max_failure_rate,
    maintenance_windows: input.maintenance_windows,
    approvals_required: input.approvals_required,
    approval_deadline_minutes: input.approval_deadline_minutes,
    approve_each_batch: input.approve_each_batch,
    retry_failed: input.retry_failed,
    device_selector: input.device_selector,
    batch_order: input.batch_order,
    max_devices_per_minute: input.max_devices_per_minute,
    max_unavailable: input.max_unavailable,
    tag_policy: input.tag_policy,
    semver_range: input.semver_range,
    include_prereleases: input.include_prereleases,
  };
}

/** A policy's settings as answers show them (a rollout carries a copy): every default filled in. */
export const policySettingsSchema = z.object({
  image_pattern: z.string(),
  update_strategy: z.enum(updateStrategies),
  batch_percentages: z.array(z.number()),
  batch_delay_minutes: z.number(),
  update_timeout_minutes: z.number(),
  health_check_enabled: z.boolean(),
  health_check_config: healthCheckConfigSchema.nullable(),
  auto_rollback_enabled: z.boolean(),
  max_failure_rate: z.number(),
  maintenance_windows: z.array(maintenanceWindowSchema),
  approvals_required: z.number().int(),
  approval_deadline_minutes: z.number().nullable(),
  approve_each_batch: z.boolean(),
  retry_failed: z.number().int(),
  /** Only devices whose labels have each of these keys with its value; `{}` is every device. */
  device_selector: labelsViewSchema,
  /** Devices matching the first selector are planned first, then the second's, …, then the rest. */
  batch_order: z.array(labelsViewSchema),
  max_devices_per_minute: z.number().int().nullable(),
  max_unavailable: z.number().int().nullable(),
  /** Which matching tags roll out: `glob` every one; the others read tags as versions and move only forward. */
  tag_policy: z.enum(tagPolicies),
  /** With `semver`: the versions taken (`^1.2`); null otherwise. */
  semver_range: z.string().nullable(),
  /** Prerelease versions roll out under a non-glob tag policy only when true. */
  include_prereleases: z.boolean(),
});

/** What a setting added since is taken to be on a policy or rollout stored before it existed. */
export const settingsDefaults = { maintenance_windows: [], approvals_required: 0, approval_deadline_minutes: null, approve_each_batch: false, retry_failed: 0, device_selector: {}, batch_order: [], max_devices_per_minute: null, max_unavailable: null, tag_policy: 'glob', semver_range: null, include_prereleases: false } satisfies Partial<PolicySettings>;

/** Settings as stored: those added since may be absent (see `settingsDefaults`). */
export const storedPolicySettingsSchema = policySettingsSchema.partial(Object.fromEntries(Object.keys(settingsDefaults).map((key) => [key, true])) as { [K in keyof typeof settingsDefaults]: true });

/** A stored policy's (or rollout's) settings with the settings added since it was stored filled in. */
export function withDefaults<T extends PolicySettings>(settings: T): T & Required<PolicySettings> {
  return { ...settingsDefaults, ...settings } as T & Required<PolicySettings>;
}

export const policyViewSchema = policySettingsSchema.extend({
  id: z.string(),
  name: z.string().nullable(),
  enabled: z.boolean(),
  priority: z.number().int(),
  staged_batches: z.number().int(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type PolicyView = z.infer<typeof policyViewSchema>;
export const policyResponseSchema = z.object({ policy: policyViewSchema });
export const policyListSchema = z.object({ policies: z.array(policyViewSchema), next_cursor: z.string().nullable() });

/** The policy as the API shows it: with `staged_batches` alongside the cumulative percentages. */
export function policyView(policy: Policy): PolicyView {
  return { ...withDefaults(policy), priority: policy.priority ?? 0, staged_batches: policy.batch_percentages.length };
}

export async function createPolicy(input: PolicyInput, now: Date): Promise<Policy> {
  const at = now.toISOString();
  const policy: Policy = { id: `pol_${ulid(now.getTime()).toLowerCase()}`, name: input.name ?? null, enabled: input.enabled, priority: input.priority, ...settingsFrom(input), created_at: at, updated_at: at };
  await putPolicy(policy, 'create');
  return policy;
}

export async function readPolicy(id: string): Promise<Policy> {
  const policy = await getPolicy(id);
  if (!policy) throw new NotFound(`policy ${id} not found`);
  return policy;
}

/** Replaces a policy's settings. Running rollouts keep the settings they started with. */
export async function replacePolicy(id: string, input: PolicyInput, now: Date): Promise<Policy> {
  const existing = await readPolicy(id);
  const policy: Policy = { ...existing, name: input.name ?? null, enabled: input.enabled, priority: input.priority, ...settingsFrom(input), updated_at: now.toISOString() };
  if (!(await putPolicy(policy, 'replace'))) throw new NotFound(`policy ${id} not found`);
  return policy;
}

export async function removePolicy(id: string): Promise<void> {
  if (!(await deletePolicy(id))) throw new NotFound(`policy ${id} not found`);
}

export function pageOfPolicies(limit: number, cursor?: string): Promise<Page<Policy>> {
  return listPolicies(limit, cursor);
}
