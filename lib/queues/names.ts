/**
 * Names both hosts and the CDK stack share with the handlers: the queues, and the environment
 * variables that carry their URLs and the scheduler settings. The manifest (infra/) imports them
 * from here, so lib/ never reaches into infra/.
 */
export const queueNames = ['orchestration', 'targets', 'health', 'rollback', 'tick', 'wake'] as const;
export type QueueName = (typeof queueNames)[number];

/**
 * Deliveries of a rollout command before it goes to the dead-letter queue. batch-advance marks
 * the rollout failed on the last one, so the manifest's orchestration queue takes it from here.
 */
export const orchestrationMaxReceiveCount = 5;

/** The name of the environment variable that carries a queue's URL to the functions that use it. */
export function queueUrlEnv(queue: QueueName): string {
  return `${queue.toUpperCase()}_QUEUE_URL`;
}

/** The one-time schedules' group, and the role they send as (given to the functions that create them). */
export const scheduleGroupNameEnv = 'SCHEDULE_GROUP_NAME';
export const schedulerRoleArnEnv = 'SCHEDULER_ROLE_ARN';
/** The ARN of the queue the schedules send to (a schedule's target is an ARN, not a URL). */
export const scheduleTargetArnEnv = 'SCHEDULE_TARGET_QUEUE_ARN';
