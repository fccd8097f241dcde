/**
 * What a rejected request must not change: the whole table, read with a Scan against the host's
 * DynamoDB endpoint, and the queues, which say when the host has finished the work a successful
 * request started (so that a snapshot taken then is not raced by a handler still writing).
 */
import { DynamoDBClient, QueryCommand, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Host } from '../../infra/embedded/host';
import { indexes, keys } from '../../lib/store/keys';

const clientConfig = { region: 'us-east-1', credentials: { accessKeyId: 'fuzz', secretAccessKey: 'fuzz' } };

type Item = Record<string, AttributeValue>;

export interface TableSnapshot {
  /** `pk sk` → the item as DynamoDB returned it, in JSON. */
  items: Map<string, string>;
}

export interface TableDiff {
  added: string[];
  removed: string[];
  changed: { key: string; before: string; after: string }[];
}

const keyOf = (item: Item) => `${item.pk?.S ?? '?'} ${item.sk?.S ?? '?'}`;

/** Attribute names sorted, since DynamoDB does not promise their order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function hostState(host: Host) {
  const dynamo = new DynamoDBClient({ ...clientConfig, endpoint: host.endpoints.dynamodb });
  const sqs = new SQSClient({ ...clientConfig, endpoint: host.endpoints.sqs });
  const queueUrls = Object.values(host.queueUrls);

  async function snapshot(): Promise<TableSnapshot> {
    const items = new Map<string, string>();
    let start: Item | undefined;
    do {
      const page = await dynamo.send(new ScanCommand({ TableName: host.tableName, ConsistentRead: true, ...(start ? { ExclusiveStartKey: start } : {}) }));
      for (const item of page.Items ?? []) items.set(keyOf(item), canonical(item));
      start = page.LastEvaluatedKey;
    } while (start);
    return { items };
  }

  function diff(before: TableSnapshot, after: TableSnapshot): TableDiff | undefined {
    const added = [...after.items.keys()].filter((key) => !before.items.has(key));
    const removed = [...before.items.keys()].filter((key) => !after.items.has(key));
    const changed = [...after.items].flatMap(([key, item]) => {
      const was = before.items.get(key);
      return was !== undefined && was !== item ? [{ key, before: was, after: item }] : [];
    });
    return added.length + removed.length + changed.length === 0 ? undefined : { added, removed, changed };
  }

  /** Messages waiting or being handled on any queue; delayed ones (wake-ups, ticks) are not counted. */
  async function pendingMessages(): Promise<number> {
    const counts = await Promise.all(
      queueUrls.map(async (QueueUrl) => {
        const { Attributes = {} } = await sqs.send(
          new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
        );
        return Number(Attributes.ApproximateNumberOfMessages ?? 0) + Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0);
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Rollouts whose ending sweep the tick has still to finish: it writes them when it does. */
  async function unfinishedSweeps(): Promise<number> {
    const index = indexes.deviceList;
    const { Count = 0 } = await dynamo.send(
      new QueryCommand({
        TableName: host.tableName,
        IndexName: index.name,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': index.pk },
        ExpressionAttributeValues: { ':pk': { S: keys.rolloutSweepListing('').gsi3pk } },
        Select: 'COUNT',
      }),
    );
    return Count;
  }

  /**
   * Waits until no queue has work and no ending sweep is left for the tick, twice in a row, so
   * that the table is no longer being written.
   */
  async function drained(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let quiet = 0;
    while (quiet < 2) {
      if (Date.now() > deadline) throw new Error(`the queues still had work after ${timeoutMs} ms`);
      quiet = (await pendingMessages()) === 0 && (await unfinishedSweeps()) === 0 ? quiet + 1 : 0;
      if (quiet < 2) await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  return {
    snapshot,
    diff,
    drained,
    close() {
      dynamo.destroy();
      sqs.destroy();
    },
  };
}
