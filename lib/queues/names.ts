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
 * Attempts to deliver one notification, each a message of its own (lib/notifications/deliver.ts);
 * the last one's message goes to the dead-letter queue when it fails.
 */
export const notificationDeliveryAttempts = 5;
