/** Health queue: probes one page of a batch's updated devices in one shard. */
import { requireConfig } from '../lib/config';
import { sqsHandler } from '../lib/queues/consume';
import { healthCommand } from '../lib/queues/messages';
import { checkHealthPage } from '../lib/rollouts/health-checks';

requireConfig({ table: true, queues: ['health', 'orchestration'] });

export const handler = sqsHandler(healthCommand, (command) => checkHealthPage(command, new Date()));
