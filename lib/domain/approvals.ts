/**
 * Approvals: a rollout that needs them waits, before it starts (`approvals_required`) or after
 * each batch (`approve_each_batch`), until that many distinct admin keys have approved it. Each
 * approval names the key and the stage it approves: 0 for the start, n for going on after batch n.
 */
import type { PolicySettings, Rollout } from './types';

export interface Approval {
  /** The admin key that approved, and the name it was given. */
  key_id: string;
  name: string;
  at: string;
  comment?: string;
  /** 0: the start; n: going on after batch n. */
  after_batch: number;
}

export const maxApprovalsRequired = 10;
export const maxApprovalDeadlineMinutes = 30 * 24 * 60;

type Approvable = Pick<Rollout, 'status' | 'approvals' | 'awaiting_approval'> & { policy: Pick<PolicySettings, 'approvals_required' | 'approve_each_batch'> };

/** How many distinct keys must approve the stage: the start, or going on after a batch (at least one). */
export function requiredApprovals(policy: Pick<PolicySettings, 'approvals_required' | 'approve_each_batch'>, afterBatch: number): number {
  const required = policy.approvals_required ?? 0;
  if (afterBatch === 0) return required;
  return policy.approve_each_batch ? Math.max(1, required) : 0;
}

export function approvalsOf(rollout: Pick<Rollout, 'approvals'>, afterBatch: number): Approval[] {
  return (rollout.approvals ?? []).filter((a) => a.after_batch === afterBatch);
}

/** Whether the stage has all the approvals it needs. */
export function isApproved(rollout: Approvable, afterBatch: number): boolean {
  return approvalsOf(rollout, afterBatch).length >= requiredApprovals(rollout.policy, afterBatch);
}

/** The stage the rollout waits for approval of, if it waits for one. */
export function awaitedStage(rollout: Approvable): number | undefined {
  if (rollout.status === 'pending' && !isApproved(rollout, 0)) return 0;
  if (rollout.status === 'paused' && rollout.awaiting_approval) return rollout.awaiting_approval.after_batch;
  return undefined;
}

/** `waiting for approval (1 of 2)` */
export function approvalProgress(rollout: Approvable, afterBatch: number): string {
  return `${approvalsOf(rollout, afterBatch).length} of ${requiredApprovals(rollout.policy, afterBatch)}`;
}

/** Why the key cannot approve (or reject) the rollout now; undefined when it can. */
export function approvalRefusal(rollout: Approvable & Pick<Rollout, 'id'>, keyId: string, action: 'approve' | 'reject'): string | undefined {
  const stage = awaitedStage(rollout);
  if (stage === undefined) {
    return `cannot ${action} rollout ${rollout.id}: it is ${rollout.status} and not waiting for approval${action === 'reject' ? '; cancel it instead' : ''}`;
  }
  const earlier = approvalsOf(rollout, stage).find((a) => a.key_id === keyId);
  if (action === 'approve' && earlier) {
    return `admin key ${earlier.name} has already approved ${stage === 0 ? 'the start of' : `going on after batch ${stage} of`} rollout ${rollout.id}; another admin must approve (${approvalProgress(rollout, stage)})`;
  }
  return undefined;
}
