/**
 * DynamoDB and SQS on loopback: dynalite and local-aws-sqs, each on an ephemeral port, with the
 * table and every manifest queue (and its dead-letter queue) created as the CDK stack would.
 *
 * What survives a restart: the table does (dynalite keeps it in LevelDB under the data dir);
 * queues and their messages do not (local-aws-sqs keeps them in memory only), so messages in
 * flight at shutdown are lost. The tick finds due work again, which is why it exists.
 */
import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import dynalite from 'dynalite';
import { createSqsServer } from 'local-aws-sqs';
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

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(0, loopback, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  return `http://${loopback}:${(server.address() as AddressInfo).port}`;
}

async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolveClose, reject) => {
    server.close((error) => (error ? reject(error) : resolveClose()));
    // Clients keep idle keep-alive sockets open; without this, close() waits for them to time out.
    server.closeAllConnections();
  });
}

async function startDynamo(dataDir: string): Promise<Server> {
  let path: string | undefined;
  if (dataDir !== ':memory:') {
    path = join(dataDir, 'dynamodb');
    await mkdir(path, { recursive: true });
  }
  // Table state changes are instant: nothing locally waits for CREATING to become ACTIVE.
  return dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, path });
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
  const servers: Server[] = [];
  const close = async () => {
    await Promise.all(servers.splice(0).map(closeServer));
  };
  try {
    const dynamoServer = await startDynamo(options.dataDir);
    servers.push(dynamoServer);
    const dynamodbEndpoint = await listen(dynamoServer);
    await ensureTable(dynamodbEndpoint, options.tableName);

    // A restarted queue of the same name is fine locally: AWS's 60-second wait after deleting a
    // queue protects its own bookkeeping, not ours.
    const sqsServer = await createSqsServer({ port: 0, hostname: loopback, emulateQueueCreationLifecycle: false });
    servers.push(sqsServer);
    const sqsEndpoint = `http://${loopback}:${(sqsServer.address() as AddressInfo).port}`;
    const { queues, deadLetterQueues } = await createQueues(sqsEndpoint, options.prefix, options.queues);

    return { dynamodbEndpoint, sqsEndpoint, queues, deadLetterQueues, close };
  } catch (error) {
    await close();
    throw error;
  }
}
