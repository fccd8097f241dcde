/** Health queue: probes one page of a batch's updated devices in one shard. */
import { sqsHandler } from '../lib/queues/consume';
import { healthCommand } from '../lib/queues/messages';
import { checkHealthPage } from '../lib/rollouts/health-checks';

export const handler = sqsHandler(healthCommand, (command) => checkHealthPage(command, new Date()));
