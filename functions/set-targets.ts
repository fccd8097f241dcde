/** Targets queue: sets the new image as target state for one shard of a batch, a page at a time. */
import { requireConfig } from '../lib/config';
import { sqsHandler } from '../lib/queues/consume';
import { targetCommand } from '../lib/queues/messages';
import { scheduleShard } from '../lib/rollouts/device-transitions';
import { now } from '../lib/clock';

requireConfig({ table: true, queues: ['targets', 'orchestration'] });

export const handler = sqsHandler(targetCommand, (command, _record, budget) => scheduleShard(command, now(), budget));
