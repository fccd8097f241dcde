/**
 * The end-to-end scenario against the stack deployed to LocalStack, through its API Gateway: the
 * same scenario bundles.test.ts runs on the embedded host, here with real event source mappings,
 * the EventBridge rule and Secrets Manager.
 *
 *   docker compose -f docker-compose.localstack.yml up -d && npm run localstack:deploy
 *   npm run test:localstack
 *
 * Skips, saying so, when LocalStack is not reachable. Settings: LOCALSTACK_ENDPOINT (default
 * http://localhost:4566), STACK_NAME (default: cdk.json's stackName), AWS_REGION (default us-east-1).
 */
import { readFile } from 'node:fs/promises';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from '../support/api';
import { runStagedRollout, type Deployment } from '../infra/rollout-scenario';

const endpoint = (process.env.LOCALSTACK_ENDPOINT ?? 'http://localhost:4566').replace(/\/$/, '');
const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
const cdkJson = JSON.parse(await readFile(new URL('../../cdk.json', import.meta.url), 'utf8')) as { context: { stackName: string } };
const stackName = process.env.STACK_NAME ?? cdkJson.context.stackName;

async function localStackRunning(): Promise<boolean> {
  try {
    const response = await fetch(`${endpoint}/_localstack/health`, { signal: AbortSignal.timeout(3000) });
    return response.ok;
  } catch {
    return false;
  }
}

const reachable = await localStackRunning();
if (!reachable) {
  console.warn(
    `skipped: LocalStack not reachable at ${endpoint} ` +
      '(start it with `docker compose -f docker-compose.localstack.yml up -d`, then `npm run localstack:deploy`)',
  );
}

describe.skipIf(!reachable)(`the ${stackName} stack on LocalStack (${endpoint})`, () => {
  // LocalStack accepts any credentials; the variables, if set, are not used for a real account.
  const clientConfig = { endpoint, region, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
  const cloudFormation = new CloudFormationClient(clientConfig);
  const secrets = new SecretsManagerClient(clientConfig);
  let deployment: Deployment;

  beforeAll(async () => {
    const { Stacks } = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName })).catch((error: Error) => {
      throw new Error(`LocalStack runs, but stack ${stackName} is not deployed there (run \`npm run localstack:deploy\`): ${error.message}`);
    });
    const outputs = Object.fromEntries((Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
    const output = (key: string): string => {
      const value = outputs[key];
      if (!value) throw new Error(`stack ${stackName} has no output ${key}; redeploy with \`npm run localstack:deploy\``);
      return value;
    };
    const secret = async (arnOutput: string) => {
      const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: output(arnOutput) }));
      if (!SecretString) throw new Error(`secret ${output(arnOutput)} has no value`);
      return SecretString;
    };
    deployment = {
      // LocalStack's path-style address of a REST API stage: it needs no DNS for *.localhost.localstack.cloud.
      url: `${endpoint}/_aws/execute-api/${output('RestApiId')}/${output('ApiStageName')}`,
      adminKey: await secret('AdminApiKeySecretArn'),
      webhookSecret: await secret('WebhookSecretArn'),
    };
  });

  afterAll(() => {
    cloudFormation.destroy();
    secrets.destroy();
  });

  it('refuses an admin route without credentials, in the API error shape', async () => {
    const response = await apiClient(deployment.url)('GET', '/api/v1/policies');
    expect(response.status).toBe(401);
    expect(response.body.error.code).toBe('unauthorized');
  });

  it('carries a staged rollout to completed with every device on the new image', async () => {
    // Slower than on the embedded host: every invocation crosses LocalStack and a Lambda container,
    // and a poll that meets a cold start may time out; the device polls again, as a real one would.
    await runStagedRollout(deployment, { devices: 8, pollIntervalMs: 1000, timeoutMs: 8 * 60_000, checkIntervalMs: 2000, everyPollAnswered: false });
  });
});
