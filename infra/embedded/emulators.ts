/**
 * DynamoDB and SQS on loopback: dynalite and local-aws-sqs, each on an ephemeral port, with the
 * table and every manifest queue (and its dead-letter queue) created as the CDK stack would.
 * Both serve from a worker thread of their own (emulator-thread.mjs), so that the store's work
 * runs beside the handlers' event loop, as a remote service's does, and the host uses two cores.
 *
 * What survives a restart: the table does (dynalite keeps it in LevelDB under the data dir);
 * queues and their messages do not (local-aws-sqs keeps them in memory only), so messages in
 * flight at shutdown are lost. The tick finds due work again, which is why it exists.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { deadLetterQueueName, queueResourceName, type QueueName, type QueueSpec } from '../manifest';
import { tableDefinition } from '../../lib/store/keys';
import { region } from './aws-identity';

const loopback = '127.0.0.1';

export interface QueueEndpoint {
  name: string;
  url: string;
  arn: string;
  fifo: boolean;
}

export interface EmulatorOptions {
  /** Directory for persistent data, or ':memory:' to keep nothing. */
  dataDir: string;
  /** Prefix of the physical queue names, as in the CDK stack. */
  prefix: string;
  tableName: string;
  queues: Readonly<Record<QueueName, QueueSpec>>;
}

export interface Emulators {
  dynamodbEndpoint: string;
  sqsEndpoint: string;
  queues: Record<QueueName, QueueEndpoint>;
  deadLetterQueues: Record<QueueName, QueueEndpoint>;
  close(): Promise<void>;
}

/** Credentials and region for SDK clients talking to the emulators; neither checks them. */
export const emulatorClientConfig = {
  region,
  credentials: { accessKeyId: 'embedded', secretAccessKey: 'embedded' },
};

type ThreadMessage = { ready: true; dynamodbPort: number; sqsPort: number } | { failed: string } | { closed: true };

/** Starts the emulators' thread; resolves once both listen, with their ports and a way to stop them. */
async function startThread(dataDir: string): Promise<{ dynamodbPort: number; sqsPort: number; close: () => Promise<void> }> {
  let dynamoPath: string | undefined;
  if (dataDir !== ':memory:') {
    dynamoPath = join(dataDir, 'dynamodb');
    await mkdir(dynamoPath, { recursive: true });
  }
  const worker = new Worker(new URL('./emulator-thread.mjs', import.meta.url), { workerData: { dynamoPath } });
  const exited = new Promise<void>((resolveExit) => worker.once('exit', () => resolveExit()));
  const ports = await new Promise<{ dynamodbPort: number; sqsPort: number }>((resolveReady, reject) => {
    worker.once('error', reject);
    void exited.then(() => reject(new Error('the emulators thread exited before it was ready')));
    worker.once('message', (message: ThreadMessage) => {
      if ('ready' in message) resolveReady(message);
      else reject(new Error(`the emulators did not start: ${'failed' in message ? message.failed : 'unexpected message'}`));
    });
  }).catch(async (error: unknown) => {
    await worker.terminate();
    throw error;
  });
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      const closed = new Promise<void>((resolveClosed) => worker.on('message', (message: ThreadMessage) => 'closed' in message && resolveClosed()));
      worker.postMessage('close');
      await Promise.race([closed, exited]);
      await worker.terminate();
    })());
  return { ...ports, close };
}

async function ensureTable(endpoint: string, tableName: string): Promise<void> {
  const client = new DynamoDBClient({ ...emulatorClientConfig, endpoint });
  try {
    await client.send(new CreateTableCommand(tableDefinition(tableName)));
  } catch (error) {
    // The table survives restarts with the same data dir; finding it is the normal case.
    if (!(error instanceof Error && error.name === 'ResourceInUseException')) throw error;
  }
  try {
    // Even with createTableMs 0 dynalite flips the status on a timer, so wait for ACTIVE.
    for (let attempt = 0; ; attempt++) {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
      if (Table?.TableStatus === 'ACTIVE') return;
      if (attempt === 100) throw new Error(`table ${tableName} did not become ACTIVE`);
      await new Promise((wake) => setTimeout(wake, 20));
    }
  } finally {
    client.destroy();
  }
}

async function createQueue(
  client: SQSClient,
  name: string,
  attributes: Record<string, string>,
  fifo: boolean,
): Promise<QueueEndpoint> {
  const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  if (!QueueUrl) throw new Error(`CreateQueue ${name} returned no URL`);
  const { Attributes } = await client.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  if (!Attributes?.QueueArn) throw new Error(`GetQueueAttributes ${name} returned no QueueArn`);
  return { name, url: QueueUrl, arn: Attributes.QueueArn, fifo };
}

async function createQueues(
  endpoint: string,
  prefix: string,
  specs: Readonly<Record<QueueName, QueueSpec>>,
): Promise<Pick<Emulators, 'queues' | 'deadLetterQueues'>> {
  const client = new SQSClient({ ...emulatorClientConfig, endpoint });
  const queues = {} as Record<QueueName, QueueEndpoint>;
  const deadLetterQueues = {} as Record<QueueName, QueueEndpoint>;
  try {
    for (const [queue, spec] of Object.entries(specs) as [QueueName, QueueSpec][]) {
      // SQS requires a FIFO queue's dead-letter queue to be FIFO too.
      const fifoAttributes: Record<string, string> = spec.fifo
        ? { FifoQueue: 'true', ContentBasedDeduplication: 'false' }
        : {};
      const dlq = await createQueue(client, deadLetterQueueName(prefix, queue), fifoAttributes, spec.fifo);
      deadLetterQueues[queue] = dlq;
      queues[queue] = await createQueue(
        client,
        queueResourceName(prefix, queue),
        {
          ...fifoAttributes,
          VisibilityTimeout: String(spec.visibilityTimeoutSeconds),
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: spec.maxReceiveCount }),
        },
        spec.fifo,
      );
    }
  } finally {
    client.destroy();
  }
  return { queues, deadLetterQueues };
}

export async function startEmulators(options: EmulatorOptions): Promise<Emulators> {
  const thread = await startThread(options.dataDir);
  try {
    const dynamodbEndpoint = `http://${loopback}:${thread.dynamodbPort}`;
    await ensureTable(dynamodbEndpoint, options.tableName);
    const sqsEndpoint = `http://${loopback}:${thread.sqsPort}`;
    const { queues, deadLetterQueues } = await createQueues(sqsEndpoint, options.prefix, options.queues);
    return { dynamodbEndpoint, sqsEndpoint, queues, deadLetterQueues, close: thread.close };
  } catch (error) {
    await thread.close();
    throw error;
  }
}
