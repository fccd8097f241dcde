/** Health queue: probes a batch's updated devices in one shard, a page at a time. */
import { requireConfig } from '../lib/config';
import { sqsHandler } from '../lib/queues/consume';
import { healthCommand } from '../lib/queues/messages';
import { checkHealthShard } from '../lib/rollouts/health-checks';
import { now } from '../lib/clock';

requireConfig({ table: true, queues: ['health', 'orchestration'] });

export const handler = sqsHandler(healthCommand, (command, _record, budget) => checkHealthShard(command, now(), budget));
