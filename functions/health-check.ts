/** Health queue: probes one page of a batch's updated devices in one shard. */
import type { SQSEvent } from 'aws-lambda';
import { consumeRecords } from '../lib/queues/consume';
import { healthCommand } from '../lib/queues/messages';
import { checkHealthPage } from '../lib/rollouts/health-checks';

export const handler = (event: SQSEvent) => consumeRecords(event, healthCommand, (command) => checkHealthPage(command, new Date()));
