/**
 * The AWS SDK clients, built once per process and reused across invocations. The endpoint comes
 * from the standard `AWS_ENDPOINT_URL*` variables, set by the embedded host or LocalStack tooling,
 * never from code.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';

/**
 * Sockets per client. A queue function's invocation has at most one page's concurrent device
 * writes (8, lib/rollouts) and its next page's read in flight; the embedded host runs every
 * function on these same clients, several invocations at once beside the device API's requests,
 * where the SDK's default of 50 queued hundreds of requests. Idle sockets cost nothing.
 */
const maxSockets = 256;
const requestHandler = { httpAgent: { keepAlive: true, maxSockets }, httpsAgent: { keepAlive: true, maxSockets } };

let documentClient: DynamoDBDocumentClient | undefined;
let sqsClient: SQSClient | undefined;
let schedulerClient: SchedulerClient | undefined;
let secretsClient: SecretsManagerClient | undefined;
let eventBridgeClient: EventBridgeClient | undefined;

export function dynamo(): DynamoDBDocumentClient {
  documentClient ??= DynamoDBDocumentClient.from(new DynamoDBClient({ requestHandler }), {
    marshallOptions: { removeUndefinedValues: true },
  });
  return documentClient;
}

export function sqs(): SQSClient {
  sqsClient ??= new SQSClient({ requestHandler });
  return sqsClient;
}

export function scheduler(): SchedulerClient {
  schedulerClient ??= new SchedulerClient({});
  return schedulerClient;
}

export function secretsManager(): SecretsManagerClient {
  secretsClient ??= new SecretsManagerClient({});
  return secretsClient;
}

export function eventBridge(): EventBridgeClient {
  eventBridgeClient ??= new EventBridgeClient({ requestHandler });
  return eventBridgeClient;
}
