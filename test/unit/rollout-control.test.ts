import { describe, expect, it } from 'vitest';
import { deviceRollbackRefusal, resumeRefusal, revertedOnCancel, revertedOnRollbackAll, startRefusal } from '../../lib/domain/rollout-control';

const rollout = (status: string, strategy = 'manual') => ({ id: 'ro-1', status, policy: { update_strategy: strategy } }) as never;

describe('control rules', () => {
  it('starts only a pending manual rollout', () => {
    expect(startRefusal(rollout('pending'))).toBeUndefined();
    expect(startRefusal(rollout('in_progress'))).toMatch(/it is in_progress; only a pending rollout/);
    expect(startRefusal(rollout('pending', 'staged'))).toMatch(/staged strategy: it starts by itself/);
  });

  it('resumes only a paused rollout', () => {
    expect(resumeRefusal(rollout('paused'))).toBeUndefined();
    expect(resumeRefusal(rollout('completed'))).toMatch(/it is completed; only a paused rollout/);
  });

  it('rolls back one device only once it was given the new image', () => {
    expect(deviceRollbackRefusal('ro-1', 'd-1', 'healthy')).toBeUndefined();
    expect(deviceRollbackRefusal('ro-1', 'd-1', 'failed')).toBeUndefined();
    expect(deviceRollbackRefusal('ro-1', 'd-1', 'rolled_back')).toMatch(/already rolled back/);
    expect(deviceRollbackRefusal('ro-1', 'd-1', 'scheduled')).toMatch(/has not updated .*status scheduled/);
  });

  it('cancel takes back only devices not yet updated; rollback-all every device that may run the image', () => {
    expect([...revertedOnCancel].sort()).toEqual(['pending', 'scheduled']);
    expect([...revertedOnRollbackAll].sort()).toEqual(['failed', 'healthy', 'pending', 'scheduled', 'unhealthy', 'updated']);
  });
});
