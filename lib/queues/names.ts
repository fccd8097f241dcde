/**
 * The queues, by the names both hosts, the CDK stack and the handlers share. The manifest (infra/)
 * imports them from here, so lib/ never reaches into infra/; the variables that carry their URLs
 * are named in lib/environment.ts.
 */
export const queueNames = ['orchestration', 'targets', 'health', 'rollback', 'tick', 'wake', 'notify', 'deliveries'] as const;
export type QueueName = (typeof queueNames)[number];

/**
 * Deliveries of a rollout command before it goes to the dead-letter queue. batch-advance marks
 * the rollout failed on the last one, so the manifest's orchestration queue takes it from here.
 */
export const orchestrationMaxReceiveCount = 5;

/**
 * Attempts to deliver one notification: each receive of its message is one (lib/notifications/
 * deliver.ts sets the backoff before the next), and the last failed one goes to the dead-letter queue.
 */
export const notificationDeliveryAttempts = 5;
