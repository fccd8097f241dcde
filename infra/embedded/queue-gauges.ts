/**
 * Each queue's and dead-letter queue's depth as Prometheus gauges, read from the embedded SQS
 * (GetQueueAttributes) when `/metrics` is scraped, as CloudWatch reads SQS's own metrics on AWS.
 * Waiting and in-flight messages are two gauges, like ApproximateNumberOfMessagesVisible and
 * …NotVisible; local-aws-sqs keeps no age of the oldest message, so that one is AWS's alone.
 */
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { Gauge, type Registry } from 'prom-client';

export interface QueueDepthOptions {
  registry: Registry;
  sqs: SQSClient;
  /** Queue name (the manifest's) → URL. */
  queues: Readonly<Record<string, string>>;
  deadLetterQueues: Readonly<Record<string, string>>;
}

async function depthOf(sqs: SQSClient, url: string): Promise<{ visible: number; inFlight: number }> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return { visible: Number(Attributes.ApproximateNumberOfMessages ?? 0), inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0) };
}

export function registerQueueDepthGauges({ registry, sqs, queues, deadLetterQueues }: QueueDepthOptions): void {
  // Read once per scrape for both gauges of a queue: prom-client collects each gauge in turn.
  let reading: Promise<Map<string, { visible: number; inFlight: number }>> | undefined;
  const depths = async (urls: Readonly<Record<string, string>>) =>
    new Map(await Promise.all(Object.entries(urls).map(async ([name, url]) => [name, await depthOf(sqs, url)] as const)));
  const readQueues = () => {
    reading ??= depths(queues).finally(() => setImmediate(() => (reading = undefined)));
    return reading;
  };
  new Gauge({
    name: 'fleet_queue_messages_visible',
    help: 'Messages waiting in the queue (ApproximateNumberOfMessages)',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      for (const [queue, depth] of await readQueues()) this.set({ queue }, depth.visible);
    },
  });
  new Gauge({
    name: 'fleet_queue_messages_in_flight',
    help: 'Messages received and not yet deleted (ApproximateNumberOfMessagesNotVisible)',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      for (const [queue, depth] of await readQueues()) this.set({ queue }, depth.inFlight);
    },
  });
  new Gauge({
    name: 'fleet_dead_letter_queue_messages',
    help: "Messages in the queue's dead-letter queue: work that failed for good",
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      for (const [queue, depth] of await depths(deadLetterQueues)) this.set({ queue }, depth.visible + depth.inFlight);
    },
  });
}
