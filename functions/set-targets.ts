/** Targets queue: sets the new image as target state, a shard of a batch (or a paced batch's scheduler) a page at a time. */
import { requireConfig } from '../lib/config';
import { sqsHandler } from '../lib/queues/consume';
import { targetCommand } from '../lib/queues/messages';
import { runTargetCommand } from '../lib/rollouts/pacing';
import { now } from '../lib/clock';

requireConfig({ table: true, queues: ['targets', 'orchestration'] });

export const handler = sqsHandler(targetCommand, (command, record, budget) => runTargetCommand(command, record.messageId, now(), budget));
