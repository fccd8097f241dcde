/**
 * What a device's current-state report means for an app a rollout is moving: the app runs the
 * rollout's image (updated), failed to (failed), or the report says nothing yet about it.
 *
 * Under a moving tag (`acme/app:latest` pushed again) the image name alone cannot tell the new
 * content from the old. In order: the rollout's digest, when the registry named one, must be the
 * one running; else a report of the target version the rollout set (or a later one) means the
 * agent pulled the tag after the push; else a digest other than the one the device reported
 * before it was scheduled is new content. An agent that reports none of these is taken at its
 * word on the image name.
 */
import type { ReportedApp } from './types';

/** App statuses that mean the app did not come up on the image. */
export const failedAppStatuses: ReadonlySet<string> = new Set(['error', 'failed', 'crashed', 'dead']);

/** `repo:tag@sha256:…` → `{ name: 'repo:tag', digest: 'sha256:…' }`. */
export function splitDigest(image: string): { name: string; digest?: string } {
  const at = image.indexOf('@');
  return at === -1 ? { name: image } : { name: image.slice(0, at), digest: image.slice(at + 1) };
}

/** The digest a reported app names, in its `digest` field or in its image reference. */
export function reportedDigest(app: Pick<ReportedApp, 'image' | 'digest'>): string | undefined {
  return app.digest ?? splitDigest(app.image).digest;
}

export interface AppUnderRollout {
  /** The image the rollout moves the app to. */
  image: string;
  /** The rollout's digest, when the registry named it. */
  digest?: string;
  /** The digest the device reported running before it was scheduled, if it reported one. */
  previous_digest?: string;
  /** The device's target version once the rollout set the app's target. */
  target_version?: number;
}

export interface StateReportFacts {
  apps: readonly ReportedApp[];
  error?: string | null;
  /** The target version the agent has applied (the ETag it last polled), when it says. */
  target_version?: number;
}

/** Whether the reported app runs the rollout's image. */
export function runsRolloutImage(target: AppUnderRollout, reported: Pick<ReportedApp, 'image' | 'digest'>, appliedVersion?: number): boolean {
  const wanted = splitDigest(target.image);
  if (splitDigest(reported.image).name !== wanted.name) return false;
  const running = reportedDigest(reported);
  const digest = target.digest ?? wanted.digest;
  if (digest !== undefined) return running === undefined || running === digest;
  if (appliedVersion !== undefined && target.target_version !== undefined) return appliedVersion >= target.target_version;
  if (running !== undefined && target.previous_digest !== undefined) return running !== target.previous_digest;
  return true;
}

export type ReportOutcome = { to: 'updated' } | { to: 'failed'; reason: string };

/** What the report means for `app`; undefined while it says nothing yet (still pulling, say). */
export function reportOutcome(
  app: string,
  target: AppUnderRollout,
  report: StateReportFacts,
): ReportOutcome | undefined {
  const reported = report.apps.find((a) => a.name === app);
  const onNewImage = reported !== undefined && runsRolloutImage(target, reported, report.target_version);
  const status = reported?.status.toLowerCase();
  if (onNewImage && status === 'running') return { to: 'updated' };
  if (onNewImage && status !== undefined && failedAppStatuses.has(status)) {
    return { to: 'failed', reason: report.error ?? `app ${app} reported ${reported.status}` };
  }
  if (report.error) return { to: 'failed', reason: report.error };
  return undefined;
}
