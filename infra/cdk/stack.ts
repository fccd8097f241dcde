/**
 * The AWS twin of the embedded host, generated from the same manifest (infra/manifest.ts): one
 * Lambda function per manifest function, the REST API from their routes, the SQS queues with
 * their dead-letter queues and event source mappings, the EventBridge rule for each `everyMinute`
 * function, and the one DynamoDB table from lib/store/keys.ts. Nothing is named here that the
 * manifest or the key module does not declare; the stack loops over them.
 *
 * Works unchanged on LocalStack (cdklocal): REST API, SQS event source mappings and EventBridge
 * rules are in its free edition; nothing relies on Lambda layers (every bundle is self-contained).
 * A CloudWatch dashboard shows the functions' metrics and the queues (./cloudwatch-dashboard.ts).
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArnFormat, CfnOutput, Duration, Fn, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogLevel, NodejsFunction, OutputFormat, type ICommandHooks } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as snsSubscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { KeySchemaElement } from '@aws-sdk/client-dynamodb';
import * as manifest from '../manifest';
import {
  deadLetterQueueName,
  eventRuleName,
  grantsOf,
  minuteRuleName,
  queueResourceName,
  registrySecretPrefix,
  scheduleGroupName,
  type FunctionSpec,
  type QueueName,
  type QueueSpec,
} from '../manifest';
import { functionEnvironment, type HostResources, type RegistrySecretAccess, type TableAccess } from '../../lib/environment';
import { indexes, tableDefinition, ttlAttribute } from '../../lib/store/keys';
import { FleetApi, type ApiRoute } from './api';
import { createCloudWatchDashboard } from './cloudwatch-dashboard';
import type { Settings } from './settings';
import { checkWiring, scheduleTargetQueues, type Wiring } from './wiring';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The item and query operations lib/store uses, by the access the manifest grants. Not granted:
 * Scan (DESIGN §5: lists are queries, never scans), transactions (never used, dynalite lacks
 * them), streams and table management.
 */
const readActions = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'];
export const tableActions: Record<TableAccess, string[]> = {
  read: readActions,
  'read-write': [...readActions, 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
};

/**
 * What a function may do with the registries' secrets in Secrets Manager, by the access the
 * manifest grants: the webhook reads them, the admin API writes them and never reads one.
 */
export const registrySecretActions: Record<RegistrySecretAccess, string[]> = {
  read: ['secretsmanager:GetSecretValue'],
  write: ['secretsmanager:CreateSecret', 'secretsmanager:PutSecretValue', 'secretsmanager:DeleteSecret'],
};

/** EventBridge rules fire at most once a minute; the ticker splits each firing into two ticks. */
const ruleRateSeconds = 60;
const ticksPerFiring = 2;

export interface FleetRolloutStackProps extends StackProps {
  settings: Settings;
  /** Default: infra/manifest.ts. */
  wiring?: Wiring;
}

export interface DeployedQueue {
  queue: sqs.Queue;
  deadLetterQueue: sqs.Queue;
}

const pascal = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);

/**
 * NodejsFunction bundles with a locally installed esbuild and falls back to a Docker build when it
 * finds none. This project never bundles in Docker (build machines have no Docker engine), so a
 * missing esbuild is an error that says how to fix it rather than a Docker failure.
 */
function requireLocalEsbuild(): void {
  const require = createRequire(import.meta.url);
  let version: string;
  try {
    version = (require('esbuild/package.json') as { version: string }).version;
  } catch {
    throw new Error('esbuild is not installed (it is a devDependency: run `npm ci`); the functions are bundled with it, never in Docker');
  }
  if (!version.startsWith('0.')) throw new Error(`aws-cdk-lib bundles with esbuild 0.x, found ${version}`);
}

/**
 * Runs a function's `staticAssets` script into `static-assets/` beside its bundle, where the
 * function reads the files from (dashboard/files.ts), so the asset carries everything it serves.
 */
function staticAssetsHooks(script: string): ICommandHooks {
  const quote = (path: string) => `'${path.replaceAll("'", `'\\''`)}'`;
  return {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (_inputDir, outputDir) => [
      `${quote(join(repoRoot, 'node_modules', '.bin', 'tsx'))} ${quote(join(repoRoot, script))} ${quote(join(outputDir, 'static-assets'))}`,
    ],
  };
}

export class FleetRolloutStack extends Stack {
  readonly table: dynamodb.Table;
  readonly queues: Record<QueueName, DeployedQueue>;
  readonly functions: Record<string, NodejsFunction>;
  readonly api: FleetApi;
  readonly webhookSecret: secretsmanager.Secret;
  readonly adminKeySecret: secretsmanager.Secret;
  readonly schedulerRole: iam.Role;
  readonly scheduleGroupName: string;
  /** Every recorded rollout event goes here (source `fleet-rollout`, detail-type the event type); the rules are the user's. */
  readonly eventBus: events.EventBus;
  /** The functions granted the table, and those granted the schedule group (for cdk-nag's reasons). */
  readonly tableUsers: NodejsFunction[] = [];
  readonly scheduleCreators: NodejsFunction[] = [];
  /** The functions granted the registries' secrets, and the ARN pattern they reach (for cdk-nag's reasons). */
  readonly registrySecretUsers: NodejsFunction[] = [];
  readonly registrySecretArns: string;
  readonly alarms: cloudwatch.Alarm[] = [];
  /** The functions' metrics, the queues' backlogs and the dead-letter queues (./cloudwatch-dashboard.ts). */
  readonly cloudWatchDashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: FleetRolloutStackProps) {
    super(scope, id, props);
    const wiring: Wiring = props.wiring ?? { functions: manifest.functions, queues: manifest.queues };
    const { settings } = props;
    checkWiring(wiring);
    requireLocalEsbuild();

    const prefix = this.stackName;
    const retain = settings.removalPolicy === 'retain';
    const removalPolicy = retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.table = this.createTable(retain, removalPolicy);
    this.queues = this.createQueues(wiring, prefix);

    // Generated by CloudFormation: the values never appear in the template or in a function's
    // environment, which carries only the ARNs (lib/secret-values.ts reads them at run time).
    const generated = { excludePunctuation: true, includeSpace: false, passwordLength: 48 };
    this.webhookSecret = new secretsmanager.Secret(this, 'WebhookSecret', {
      description: `${prefix}: the secret registries present to the webhook (Docker Hub ?token=, Distribution bearer)`,
      generateSecretString: generated,
      removalPolicy,
    });
    this.adminKeySecret = new secretsmanager.Secret(this, 'AdminApiKey', {
      description: `${prefix}: the bootstrap admin API key (Authorization: Bearer …)`,
      generateSecretString: generated,
      removalPolicy,
    });

    // One-time schedules live in this group and send, as this role, to the wake queue: a
    // rollout's wake-up at a due time more than 15 minutes ahead (SQS delays stop there). The
    // tick finds due work anyway, so correctness never depends on a schedule firing.
    this.scheduleGroupName = scheduleGroupName(prefix);
    new scheduler.CfnScheduleGroup(this, 'ScheduleGroup', { name: this.scheduleGroupName });
    const scheduleArns = this.formatArn({ service: 'scheduler', resource: 'schedule', resourceName: `${this.scheduleGroupName}/*` });
    const scheduleGroupArn = this.formatArn({ service: 'scheduler', resource: 'schedule-group', resourceName: this.scheduleGroupName });
    this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
      description: `${prefix}: EventBridge Scheduler sends rollout wake-ups to the wake queue`,
      // Only schedules of this stack's group may use the role (EventBridge Scheduler sets the group as source).
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com').withConditions({
        StringEquals: { 'aws:SourceAccount': this.account, 'aws:SourceArn': scheduleGroupArn },
      }),
    });
    const [scheduleTarget] = scheduleTargetQueues(wiring);
    if (scheduleTarget) this.queues[scheduleTarget].queue.grant(this.schedulerRole, 'sqs:SendMessage');

    // Registries' secrets that must be kept as they are (HMAC kinds) are made at run time, one per
    // registry, under this prefix; the functions' grants reach these and nothing else.
    this.registrySecretArns = this.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${registrySecretPrefix(prefix)}*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });

    this.eventBus = new events.EventBus(this, 'EventBus', { eventBusName: `${prefix}-events`, description: `${prefix}: every rollout event` });

    this.functions = {};
    const routes: ApiRoute[] = [];
    for (const [name, spec] of Object.entries(wiring.functions)) {
      const fn = this.createFunction(name, spec, wiring, removalPolicy, settings, {
        groupName: this.scheduleGroupName,
        scheduleArns,
        ...(scheduleTarget ? { targetArn: this.queues[scheduleTarget].queue.queueArn } : {}),
      });
      this.functions[name] = fn;
      routes.push(...(spec.routes ?? []).map((route) => ({ ...route, fn })));
    }

    this.api = new FleetApi(this, 'Http', {
      name: prefix,
      routes,
      throttlingRateLimit: settings.apiThrottlingRateLimit,
      throttlingBurstLimit: settings.apiThrottlingBurstLimit,
      webhookThrottling: { rateLimit: settings.webhookThrottlingRateLimit, burstLimit: settings.webhookThrottlingBurstLimit },
      removalPolicy,
      waf: settings.waf,
    });

    this.createAlarms(settings);
    this.cloudWatchDashboard = createCloudWatchDashboard(this, 'CloudWatchDashboard', { name: prefix, queues: this.queues, alarms: this.alarms });
    this.createOutputs(wiring);
  }

  /** The table exactly as lib/store/keys.ts defines it (the embedded host creates it from the same definition). */
  private createTable(retain: boolean, removalPolicy: RemovalPolicy): dynamodb.Table {
    const definition = tableDefinition('unused');
    const attribute = (name: string): dynamodb.Attribute => {
      const type = definition.AttributeDefinitions?.find((a) => a.AttributeName === name)?.AttributeType;
      if (type !== 'S' && type !== 'N' && type !== 'B') throw new Error(`key attribute ${name} has no type in tableDefinition`);
      return { name, type: type as dynamodb.AttributeType };
    };
    const keysOf = (schema: KeySchemaElement[] | undefined) => {
      const hash = schema?.find((k) => k.KeyType === 'HASH')?.AttributeName;
      const range = schema?.find((k) => k.KeyType === 'RANGE')?.AttributeName;
      if (!hash) throw new Error('a key schema in tableDefinition has no HASH key');
      return { partitionKey: attribute(hash), ...(range ? { sortKey: attribute(range) } : {}) };
    };

    const table = new dynamodb.Table(this, 'Table', {
      ...keysOf(definition.KeySchema),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: ttlAttribute,
      deletionProtection: retain,
      removalPolicy,
    });
    for (const index of definition.GlobalSecondaryIndexes ?? []) {
      const projection = Object.values(indexes).find((i) => i.name === index.IndexName)?.projection;
      if (!projection) throw new Error(`index ${index.IndexName} is not in lib/store/keys.ts indexes`);
      table.addGlobalSecondaryIndex({
        indexName: index.IndexName!,
        ...keysOf(index.KeySchema),
        projectionType: projection === 'ALL' ? dynamodb.ProjectionType.ALL : dynamodb.ProjectionType.KEYS_ONLY,
      });
    }
    return table;
  }

  private createQueues(wiring: Wiring, prefix: string): Record<QueueName, DeployedQueue> {
    const deployed = {} as Record<QueueName, DeployedQueue>;
    for (const [name, spec] of Object.entries(wiring.queues) as [QueueName, QueueSpec][]) {
      const common = {
        // FIFO messages carry their own deduplication ids (lib/queues/messages.ts).
        ...(spec.fifo ? { fifo: true, contentBasedDeduplication: false } : {}),
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
      };
      const deadLetterQueue = new sqs.Queue(this, `${pascal(name)}DeadLetterQueue`, {
        ...common,
        queueName: deadLetterQueueName(prefix, name),
        // The longest SQS keeps a message: time to find out why it failed and redrive it.
        retentionPeriod: Duration.days(14),
      });
      const queue = new sqs.Queue(this, `${pascal(name)}Queue`, {
        ...common,
        queueName: queueResourceName(prefix, name),
        visibilityTimeout: Duration.seconds(spec.visibilityTimeoutSeconds),
        deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: spec.maxReceiveCount },
      });
      deployed[name] = { queue, deadLetterQueue };
    }
    return deployed;
  }

  private createFunction(
    name: string,
    spec: FunctionSpec,
    wiring: Wiring,
    removalPolicy: RemovalPolicy,
    settings: Settings,
    schedules: { groupName: string; scheduleArns: string; targetArn?: string },
  ): NodejsFunction {
    const id = pascal(name);
    // Created here rather than by Lambda on first write, so it has a retention and goes with the stack.
    const logGroup = new logs.LogGroup(this, `${id}Logs`, { retention: logs.RetentionDays.ONE_MONTH, removalPolicy });
    // An own role instead of the managed AWSLambdaBasicExecutionRole, whose log permissions cover every log group.
    const role = new iam.Role(this, `${id}Role`, {
      description: `${this.stackName}: the ${name} function`,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    logGroup.grantWrite(role);

    const grants = grantsOf(spec, wiring.queues);
    const resources: HostResources = {
      tableName: this.table.tableName,
      queueUrls: Object.fromEntries(Object.entries(this.queues).map(([queue, { queue: q }]) => [queue, q.queueUrl])) as Record<QueueName, string>,
      secrets: { webhook: { arn: this.webhookSecret.secretArn }, adminKey: { arn: this.adminKeySecret.secretArn } },
      ...(schedules.targetArn ? { schedules: { groupName: schedules.groupName, roleArn: this.schedulerRole.roleArn, targetArn: schedules.targetArn } } : {}),
      eventBusName: this.eventBus.eventBusName,
      registrySecretPrefix: registrySecretPrefix(this.stackName),
    };
    const environment: Record<string, string> = {
      ...functionEnvironment(grants, resources, {
        tickSeconds: ruleRateSeconds / ticksPerFiring,
        healthCheckAllowedCidrs: settings.healthCheckAllowedCidrs,
        notificationAllowedCidrs: settings.notificationAllowedCidrs,
        devicePollIntervalSeconds: settings.devicePollIntervalSeconds,
        devicePollIntervalActiveSeconds: settings.devicePollIntervalActiveSeconds,
        ...(settings.dockerHubManifestApiUrl ? { dockerHubManifestApiUrl: settings.dockerHubManifestApiUrl } : {}),
        ...(settings.quayManifestApiUrl ? { quayManifestApiUrl: settings.quayManifestApiUrl } : {}),
        logLevel: settings.logLevel,
      }),
      // Not the functions' contract but Node's: stack traces point into the TypeScript sources rather than the minified bundle.
      NODE_OPTIONS: '--enable-source-maps',
    };

    const fn = new NodejsFunction(this, id, {
      entry: join(repoRoot, spec.entry),
      handler: 'handler',
      description: spec.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: spec.memoryMb,
      timeout: Duration.seconds(spec.timeoutSeconds),
      role,
      logGroup,
      environment,
      projectRoot: repoRoot,
      depsLockFilePath: join(repoRoot, 'package-lock.json'),
      bundling: {
        // esbuild from node_modules (see requireLocalEsbuild), never a Docker image.
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: 'node22',
        platform: 'node',
        minify: true,
        // Error names (ClientError subclasses) stay readable in logs.
        keepNames: true,
        sourceMap: true,
        sourcesContent: false,
        mainFields: ['module', 'main'],
        // Everything, the AWS SDK included, goes into the bundle: the bundle that is tested is
        // the bundle that runs, on AWS and on LocalStack (whose free edition applies no layers).
        bundleAwsSDK: true,
        externalModules: [],
        // CommonJS dependencies inside an ES module bundle still call require().
        banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
        logLevel: LogLevel.WARNING,
        ...(spec.staticAssets ? { commandHooks: staticAssetsHooks(spec.staticAssets) } : {}),
      },
    });

    if (grants.table) {
      // The table and its indexes (`<table arn>/index/*`).
      this.table.grant(fn, ...tableActions[grants.table]);
      this.tableUsers.push(fn);
    }
    for (const queue of spec.sendsTo ?? []) this.queues[queue].queue.grant(fn, 'sqs:SendMessage');
    for (const trigger of spec.queues ?? []) {
      const fifo = wiring.queues[trigger.queue].fifo;
      fn.addEventSource(
        new SqsEventSource(this.queues[trigger.queue].queue, {
          batchSize: trigger.batchSize,
          ...(!fifo && trigger.maxBatchingWindowSeconds !== undefined
            ? { maxBatchingWindow: Duration.seconds(trigger.maxBatchingWindowSeconds) }
            : {}),
          reportBatchItemFailures: true,
        }),
      );
    }
    if (grants.putsEvents) this.eventBus.grantPutEventsTo(fn);
    if (grants.secrets?.includes('webhook')) this.webhookSecret.grantRead(fn);
    if (grants.secrets?.includes('adminKey')) this.adminKeySecret.grantRead(fn);
    if (grants.registrySecrets) {
      fn.addToRolePolicy(new iam.PolicyStatement({ actions: registrySecretActions[grants.registrySecrets], resources: [this.registrySecretArns] }));
      this.registrySecretUsers.push(fn);
    }
    if (grants.createsSchedules) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          // Create only: a schedule deletes itself after firing (ActionAfterCompletion DELETE).
          actions: ['scheduler:CreateSchedule'],
          resources: [schedules.scheduleArns],
        }),
      );
      this.schedulerRole.grantPassRole(fn.grantPrincipal);
      this.scheduleCreators.push(fn);
    }

    if (spec.everyMinute) {
      new events.Rule(this, `${id}EveryMinute`, {
        ruleName: minuteRuleName(this.stackName, name),
        description: `Fires ${name} once a minute; it sends ${ticksPerFiring} ticks, ${ruleRateSeconds / ticksPerFiring} s apart`,
        schedule: events.Schedule.rate(Duration.seconds(ruleRateSeconds)),
        // A firing that could not be delivered within a minute is superseded by the next one.
        targets: [new eventTargets.LambdaFunction(fn, { maxEventAge: Duration.seconds(ruleRateSeconds), retryAttempts: 2 })],
      });
    }
    if (spec.onEvents) {
      new events.Rule(this, `${id}Events`, {
        ruleName: eventRuleName(this.stackName, name),
        description: `Invokes ${name} with the matching events of the account's default bus`,
        // The default bus: where AWS services (ECR) put their events.
        eventPattern: {
          source: [...spec.onEvents.source],
          detailType: [...spec.onEvents['detail-type']],
          ...(spec.onEvents.detail ? { detail: Object.fromEntries(Object.entries(spec.onEvents.detail).map(([field, values]) => [field, [...values]])) } : {}),
        },
        // An event not delivered within a day (the function failing throughout) is dropped; a push is worth a retry.
        targets: [new eventTargets.LambdaFunction(fn, { maxEventAge: Duration.hours(24), retryAttempts: 2 })],
      });
    }
    return fn;
  }

  /** A message in a dead-letter queue, or a function that failed, is worth a look; both are rare. */
  private createAlarms(settings: Settings): void {
    const period = Duration.minutes(5);
    for (const [name, { deadLetterQueue }] of Object.entries(this.queues)) {
      this.alarms.push(
        new cloudwatch.Alarm(this, `${pascal(name)}DeadLetterAlarm`, {
          alarmDescription: `Messages of the ${name} queue failed ${this.stackName} repeatedly and wait in its dead-letter queue`,
          metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    for (const [name, fn] of Object.entries(this.functions)) {
      this.alarms.push(
        new cloudwatch.Alarm(this, `${pascal(name)}ErrorsAlarm`, {
          alarmDescription: `The ${name} function of ${this.stackName} failed (an error it did not handle, or a timeout)`,
          metric: fn.metricErrors({ period, statistic: 'Sum' }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    if (settings.alarmEmail) {
      const topic = new sns.Topic(this, 'AlarmTopic', { displayName: `${this.stackName} alarms`, enforceSSL: true });
      topic.addSubscription(new snsSubscriptions.EmailSubscription(settings.alarmEmail));
      const action = new cloudwatchActions.SnsAction(topic);
      for (const alarm of this.alarms) alarm.addAlarmAction(action);
    }
  }

  private createOutputs(wiring: Wiring): void {
    const apiUrl = `${this.api.api.url}api/v1`;
    new CfnOutput(this, 'ApiUrl', { value: apiUrl, description: 'Base URL of the API' });
    new CfnOutput(this, 'RestApiId', { value: this.api.api.restApiId, description: 'REST API id (LocalStack: http://localhost:4566/_aws/execute-api/<id>/<stage>/api/v1)' });
    new CfnOutput(this, 'ApiStageName', { value: this.api.api.deploymentStage.stageName });
    new CfnOutput(this, 'EventBusName', { value: this.eventBus.eventBusName, description: 'EventBridge bus every rollout event goes to (source fleet-rollout)' });
    new CfnOutput(this, 'DockerHubWebhookUrl', {
      value: `${apiUrl}/webhooks/docker-registry?token=<webhook secret>`,
      description: 'Docker Hub webhook URL; replace the placeholder with the webhook secret',
    });
    new CfnOutput(this, 'DistributionWebhookUrl', {
      value: `${apiUrl}/webhooks/distribution`,
      description: 'CNCF Distribution notification endpoint (header Authorization: Bearer <webhook secret>)',
    });
    new CfnOutput(this, 'TableName', { value: this.table.tableName });
    const readCommand = (arn: string) => Fn.join('', ['aws secretsmanager get-secret-value --query SecretString --output text --secret-id ', arn]);
    new CfnOutput(this, 'WebhookSecretArn', { value: this.webhookSecret.secretArn });
    new CfnOutput(this, 'ReadWebhookSecret', { value: readCommand(this.webhookSecret.secretArn), description: 'Prints the webhook secret' });
    new CfnOutput(this, 'AdminApiKeySecretArn', { value: this.adminKeySecret.secretArn });
    new CfnOutput(this, 'ReadAdminApiKey', { value: readCommand(this.adminKeySecret.secretArn), description: 'Prints the bootstrap admin API key' });
    for (const name of Object.keys(wiring.queues) as QueueName[]) {
      new CfnOutput(this, `${pascal(name)}DeadLetterQueueUrl`, { value: this.queues[name].deadLetterQueue.queueUrl });
    }
  }
}
