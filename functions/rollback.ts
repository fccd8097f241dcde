/** Rollback queue: puts a rollout's devices back on the image they ran before. */
import { requireConfig } from '../lib/config';
import { sqsHandler } from '../lib/queues/consume';
import { revertCommand } from '../lib/queues/messages';
import { runRevertCommand } from '../lib/rollouts/rollbacks';
import { now } from '../lib/clock';

requireConfig({ table: true, queues: ['rollback', 'orchestration'] });

export const handler = sqsHandler(revertCommand, (command, _record, budget) => runRevertCommand(command, now(), budget));
