/**
 * What a reviewer checks in the synthesised CloudFormation template: that it is the manifest's
 * wiring (every route, queue, event source mapping and the tick), that it is safe (every queue has
 * a dead-letter queue, no secret in plain text, each function may touch only what it uses), and
 * that cdk-nag's AwsSolutions pack finds nothing that is not explained.
 *
 * Synthesised without bundling (the template differs only in the code assets' hashes);
 * bundles.test.ts synthesises with esbuild and runs the bundles.
 */
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functions, queues, deadLetterQueueName, queueResourceName, queueUrlEnv, type FunctionSpec, type QueueName } from '../../infra/manifest';
import { registrySecretActions, tableActions } from '../../infra/cdk/stack';
import { wafMaxBodyBytes } from '../../infra/cdk/api';
import { addressPolicy, privateRanges } from '../../lib/health/address-policy';
import { notificationDefaultRanges } from '../../lib/notifications/destination';
import { tableDefinition, ttlAttribute } from '../../lib/store/keys';
import { countMetrics, latencyMetrics, metricsNamespace, metricsService } from '../../lib/metric-names';
import { cdkJsonContext, synthesise, type Synthesised } from './synth';

type Json = any;
const functionNames = Object.keys(functions) as (keyof typeof functions)[];
const queueNames = Object.keys(queues) as QueueName[];
const specOf = (name: string): FunctionSpec => functions[name as keyof typeof functions];

let synth: Synthesised;
let resources: Record<string, Json>;
let context: Record<string, unknown>;

beforeAll(async () => {
  context = await cdkJsonContext();
  synth = await synthesise({ bundle: false });
  resources = synth.template.toJSON().Resources;
}, 120_000);

afterAll(async () => {
  await synth?.remove();
});

const ofType = (type: string): [string, Json][] => Object.entries(resources).filter(([, resource]) => resource.Type === type);

/** A reference as text: `Id` for Ref, `Id.Attr` for GetAtt, the parts of a Join joined. */
function ref(value: Json): string {
  if (typeof value === 'string') return value;
  if (value?.Ref) return value.Ref;
  if (value?.['Fn::GetAtt']) return value['Fn::GetAtt'].join('.');
  if (value?.['Fn::Join']) return value['Fn::Join'][1].map(ref).join(value['Fn::Join'][0]);
  return JSON.stringify(value);
}

const fnId = (name: string) => synth.logicalId(synth.stack.functions[name]!);
const roleId = (name: string) => synth.logicalId(synth.stack.functions[name]!.role!);
const queueId = (queue: QueueName) => synth.logicalId(synth.stack.queues[queue].queue);
const dlqId = (queue: QueueName) => synth.logicalId(synth.stack.queues[queue].deadLetterQueue);
const tableId = () => synth.logicalId(synth.stack.table);

interface Statement {
  effect: string;
  actions: string[];
  resources: string[];
}

/** Every statement of the inline policies attached to a role. */
function statementsOf(role: string): Statement[] {
  return ofType('AWS::IAM::Policy')
    .filter(([, policy]) => policy.Properties.Roles.some((r: Json) => r.Ref === role))
    .flatMap(([, policy]) =>
      policy.Properties.PolicyDocument.Statement.map((s: Json) => ({
        effect: s.Effect,
        actions: [s.Action].flat(),
        resources: [s.Resource].flat().map(ref),
      })),
    );
}

const resourcesAllowed = (statements: Statement[], action: string) =>
  [...new Set(statements.filter((s) => s.actions.includes(action)).flatMap((s) => s.resources))].sort();

describe('the API', () => {
  it('is one REST API (v1), not an HTTP API', () => {
    synth.template.resourceCountIs('AWS::ApiGateway::RestApi', 1);
    synth.template.resourceCountIs('AWS::ApiGatewayV2::Api', 0);
  });

  it('has every route of the manifest, with its method, proxied to the function that declares it', () => {
    const pathOf = (resourceRef: Json): string => {
      if (resourceRef['Fn::GetAtt']?.[1] === 'RootResourceId') return '';
      const resource = resources[resourceRef.Ref];
      return `${pathOf(resource.Properties.ParentId)}/${resource.Properties.PathPart}`;
    };
    const deployed = ofType('AWS::ApiGateway::Method').map(([, method]) => {
      const uriParts: Json[] = method.Properties.Integration.Uri['Fn::Join'][1];
      const target = uriParts.find((part) => part['Fn::GetAtt'])['Fn::GetAtt'][0];
      expect(method.Properties.Integration.Type).toBe('AWS_PROXY');
      return `${method.Properties.HttpMethod} ${pathOf(method.Properties.ResourceId)} -> ${target}`;
    });
    const declared = functionNames.flatMap((name) => (specOf(name).routes ?? []).map((route) => `${route.method} ${route.path} -> ${fnId(name)}`));
    expect(deployed.sort()).toEqual(declared.sort());
  });

  it('lets API Gateway invoke a function only through the routes it declares', () => {
    const invokePermissions = ofType('AWS::Lambda::Permission').filter(([, p]) => p.Properties.Principal === 'apigateway.amazonaws.com');
    const routes = functionNames.reduce((n, name) => n + (specOf(name).routes?.length ?? 0), 0);
    expect(invokePermissions).toHaveLength(routes);
    for (const [, permission] of invokePermissions) {
      // arn:…:execute-api:…:<api>/<stage>/<METHOD>/<path>, never a wildcard method and path.
      expect(ref(permission.Properties.SourceArn)).toMatch(/\/(GET|POST|PUT|PATCH|DELETE)\/(api\/v1\/|dashboard($|\/))/);
    }
  });

  it('throttles the stage, the webhook route tighter, logs access, and never logs request bodies', () => {
    const [[, stage]] = ofType('AWS::ApiGateway::Stage') as [[string, Json]];
    const webhookRoutes = functionNames.flatMap((name) => (specOf(name).routes ?? []).filter((route) => route.auth === 'webhookSecret'));
    expect(webhookRoutes.map((route) => `${route.method} ${route.path}`)).toEqual(['POST /api/v1/webhooks/{registry}']);
    expect(stage.Properties.MethodSettings).toEqual([
      expect.objectContaining({
        HttpMethod: '*',
        ResourcePath: '/*',
        ThrottlingRateLimit: context.apiThrottlingRateLimit,
        ThrottlingBurstLimit: context.apiThrottlingBurstLimit,
        DataTraceEnabled: false,
      }),
      // API Gateway's own escaping of a resource path: `/` as `~1`.
      ...webhookRoutes.map((route) =>
        expect.objectContaining({
          HttpMethod: route.method,
          ResourcePath: route.path.replaceAll('/', '~1').replace(/^/, '/'),
          ThrottlingRateLimit: context.webhookThrottlingRateLimit,
          ThrottlingBurstLimit: context.webhookThrottlingBurstLimit,
          DataTraceEnabled: false,
        }),
      ),
    ]);
    expect(context.webhookThrottlingRateLimit).toBeLessThan(context.apiThrottlingRateLimit as number);
    expect(stage.Properties.AccessLogSetting.DestinationArn).toBeDefined();
  });

  it('answers an unknown route with a JSON 404, and its own errors as JSON', () => {
    const responses = Object.fromEntries(ofType('AWS::ApiGateway::GatewayResponse').map(([, r]) => [r.Properties.ResponseType, r.Properties]));
    expect(responses.MISSING_AUTHENTICATION_TOKEN.StatusCode).toBe('404');
    expect(JSON.parse(responses.MISSING_AUTHENTICATION_TOKEN.ResponseTemplates['application/json'])).toEqual({
      error: { code: 'not_found', message: 'no such route' },
    });
    for (const type of ['DEFAULT_4XX', 'DEFAULT_5XX', 'THROTTLED', 'REQUEST_TOO_LARGE']) {
      // $context.error.messageString is a quoted JSON string at run time.
      const template: string = responses[type].ResponseTemplates['application/json'].replace('$context.error.messageString', '"message"');
      expect(JSON.parse(template).error.code, type).toMatch(/^[a-z_]+$/);
    }
  });
});

describe('the queues', () => {
  it('are the manifest queues, each with a dead-letter queue and its redrive', () => {
    synth.template.resourceCountIs('AWS::SQS::Queue', 2 * queueNames.length);
    const stackName = synth.stack.stackName;
    for (const queue of queueNames) {
      const spec = queues[queue];
      const main = resources[queueId(queue)].Properties;
      const dlq = resources[dlqId(queue)].Properties;
      expect(main.QueueName).toBe(queueResourceName(stackName, queue));
      expect(dlq.QueueName).toBe(deadLetterQueueName(stackName, queue));
      expect(main.RedrivePolicy).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': [dlqId(queue), 'Arn'] }, maxReceiveCount: spec.maxReceiveCount });
      expect(main.VisibilityTimeout).toBe(spec.visibilityTimeoutSeconds);
      expect(dlq.MessageRetentionPeriod).toBe(14 * 24 * 3600);
      expect(Boolean(main.FifoQueue), queue).toBe(spec.fifo);
      expect(Boolean(dlq.FifoQueue), `${queue} dead-letter queue`).toBe(spec.fifo);
    }
    // No queue outside the manifest's pairs, and none without a dead-letter queue.
    const deadLetterTargets = new Set(ofType('AWS::SQS::Queue').flatMap(([, q]) => (q.Properties.RedrivePolicy ? [ref(q.Properties.RedrivePolicy.deadLetterTargetArn)] : [])));
    for (const [id, queue] of ofType('AWS::SQS::Queue')) {
      expect(queue.Properties.RedrivePolicy !== undefined || deadLetterTargets.has(`${id}.Arn`), id).toBe(true);
    }
  });

  it('are encrypted and refuse requests without TLS', () => {
    for (const [id, queue] of ofType('AWS::SQS::Queue')) {
      expect(queue.Properties.SqsManagedSseEnabled, id).toBe(true);
      const policy = ofType('AWS::SQS::QueuePolicy').find(([, p]) => p.Properties.Queues.some((q: Json) => q.Ref === id));
      expect(policy?.[1].Properties.PolicyDocument.Statement, id).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });

  it('feed their consumers through event source mappings that report batch item failures', () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping').map(([, m]) => m.Properties);
    const triggers = functionNames.flatMap((name) => (specOf(name).queues ?? []).map((trigger) => ({ name, trigger })));
    expect(mappings).toHaveLength(triggers.length);
    for (const { name, trigger } of triggers) {
      const mapping = mappings.find((m) => m.FunctionName.Ref === fnId(name) && ref(m.EventSourceArn) === `${queueId(trigger.queue)}.Arn`);
      expect(mapping, `${name} <- ${trigger.queue}`).toBeDefined();
      expect(mapping.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
      expect(mapping.BatchSize).toBe(trigger.batchSize);
      if (queues[trigger.queue].fifo) expect(mapping.MaximumBatchingWindowInSeconds).toBeUndefined();
    }
    for (const mapping of mappings) expect(mapping.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
  });

  it("keep a message invisible at least as long as its consumer may run", () => {
    for (const [, mapping] of ofType('AWS::Lambda::EventSourceMapping')) {
      const queue = resources[mapping.Properties.EventSourceArn['Fn::GetAtt'][0]].Properties;
      const fn = resources[mapping.Properties.FunctionName.Ref].Properties;
      expect(queue.VisibilityTimeout, queue.QueueName).toBeGreaterThanOrEqual(fn.Timeout);
    }
  });
});

describe('the functions', () => {
  it('are one Node.js 22 (arm64) function per manifest function, sized by the manifest, with a log retention', () => {
    synth.template.resourceCountIs('AWS::Lambda::Function', functionNames.length);
    for (const name of functionNames) {
      const spec = specOf(name);
      const fn = resources[fnId(name)].Properties;
      expect(fn).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Handler: 'index.handler', MemorySize: spec.memoryMb, Timeout: spec.timeoutSeconds });
      const logGroup = resources[fn.LoggingConfig.LogGroup.Ref];
      expect(logGroup.Type).toBe('AWS::Logs::LogGroup');
      expect(logGroup.Properties.RetentionInDays).toBe(30);
    }
  });

  it('get the queue URLs they send to, the secrets they read as ARNs, and nothing else', () => {
    const literal: Record<string, string> = {
      TICK_SECONDS: '30',
      LOG_LEVEL: context.logLevel as string,
      HEALTH_CHECK_ALLOWED_CIDRS: privateRanges.join(','),
      NOTIFICATION_ALLOWED_CIDRS: notificationDefaultRanges.join(','),
      DEVICE_POLL_INTERVAL_SECONDS: String(context.devicePollIntervalSeconds),
      DEVICE_POLL_INTERVAL_ACTIVE_SECONDS: String(context.devicePollIntervalActiveSeconds),
      NODE_OPTIONS: '--enable-source-maps',
      SCHEDULE_GROUP_NAME: synth.stack.scheduleGroupName,
    };
    for (const name of functionNames) {
      const spec = specOf(name);
      const variables: Record<string, Json> = resources[fnId(name)].Properties.Environment.Variables;
      const expected: Record<string, string> = {
        ...(spec.table ? { TABLE_NAME: tableId() } : {}),
        ...Object.fromEntries((spec.sendsTo ?? []).map((queue) => [queueUrlEnv(queue), queueId(queue)])),
        ...(spec.secrets?.includes('webhook') ? { WEBHOOK_SECRET_ARN: synth.logicalId(synth.stack.webhookSecret) } : {}),
        ...(spec.secrets?.includes('adminKey') ? { ADMIN_API_KEY_SECRET_ARN: synth.logicalId(synth.stack.adminKeySecret) } : {}),
        // Who sends wake-ups may schedule them: the role to pass and the wake queue to target.
        ...((spec.sendsTo ?? []).includes('wake')
          ? { SCHEDULER_ROLE_ARN: `${synth.logicalId(synth.stack.schedulerRole)}.Arn`, SCHEDULE_TARGET_QUEUE_ARN: `${queueId('wake')}.Arn` }
          : {}),
        ...(spec.putsEvents ? { EVENT_BUS_NAME: synth.logicalId(synth.stack.eventBus) } : {}),
      };
      if (spec.registrySecrets) literal.REGISTRY_SECRET_PREFIX = `${synth.stack.stackName}/registries/`;
      else delete literal.REGISTRY_SECRET_PREFIX;
      for (const [variable, value] of Object.entries(variables)) {
        if (typeof value === 'string') expect(value, `${name} ${variable}`).toBe(literal[variable]);
        else expect(ref(value), `${name} ${variable}`).toBe(expected[variable]);
      }
      expect(Object.keys(variables).filter((v) => typeof variables[v] !== 'string').sort(), name).toEqual(Object.keys(expected).sort());
      expect('SCHEDULE_GROUP_NAME' in variables, name).toBe((spec.sendsTo ?? []).includes('wake'));
    }
  });

  it('never allow health checks or notifications to reach loopback, where Lambda runs its runtime API', () => {
    for (const name of functionNames) {
      for (const variable of ['HEALTH_CHECK_ALLOWED_CIDRS', 'NOTIFICATION_ALLOWED_CIDRS']) {
        const cidrs: string = resources[fnId(name)].Properties.Environment.Variables[variable];
        const policy = addressPolicy(cidrs.split(','));
        expect(policy.allows('127.0.0.1') || policy.allows('::1'), `${name} ${variable}`).toBe(false);
        expect(policy.allows('169.254.169.254'), `${name} ${variable}`).toBe(false);
      }
    }
  });
});

describe('permissions', () => {
  it('let a function send only to the queues in its sendsTo, and receive only from the queue it consumes', () => {
    for (const name of functionNames) {
      const spec = specOf(name);
      const statements = statementsOf(roleId(name));
      expect(resourcesAllowed(statements, 'sqs:SendMessage'), name).toEqual((spec.sendsTo ?? []).map((q) => `${queueId(q)}.Arn`).sort());
      expect(resourcesAllowed(statements, 'sqs:ReceiveMessage'), name).toEqual((spec.queues ?? []).map((t) => `${queueId(t.queue)}.Arn`).sort());
      expect(resourcesAllowed(statements, 'sqs:DeleteMessage'), name).toEqual((spec.queues ?? []).map((t) => `${queueId(t.queue)}.Arn`).sort());
    }
  });

  it('give each function the table access its manifest entry declares, without Scan', () => {
    for (const name of functionNames) {
      const access = specOf(name).table;
      const statements = statementsOf(roleId(name));
      const actions = [...new Set(statements.flatMap((s) => s.actions).filter((a) => a.startsWith('dynamodb:')))].sort();
      expect(actions, name).toEqual(access ? [...tableActions[access]].sort() : []);
      expect(actions, name).not.toContain('dynamodb:Scan');
      if (access) expect(resourcesAllowed(statements, 'dynamodb:Query'), name).toEqual([`${tableId()}.Arn`, `${tableId()}.Arn/index/*`]);
    }
  });

  it('let the monitor only read the table, and the ticker not touch it', () => {
    const dynamoActions = (name: string) => statementsOf(roleId(name)).flatMap((s) => s.actions).filter((a) => a.startsWith('dynamodb:')).sort();
    expect(dynamoActions('monitor')).toEqual(['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:Query']);
    expect(dynamoActions('ticker')).toEqual([]);
    expect(dynamoActions('batchAdvance')).toContain('dynamodb:UpdateItem');
  });

  it("let each function read only the secrets it needs: the webhook only the webhook secret and the registries' own", () => {
    const webhookSecret = synth.logicalId(synth.stack.webhookSecret);
    const adminKey = synth.logicalId(synth.stack.adminKeySecret);
    const registrySecrets = `arn:AWS::Partition:secretsmanager:AWS::Region:AWS::AccountId:secret:${synth.stack.stackName}/registries/*`;
    const readable = (name: string) => resourcesAllowed(statementsOf(roleId(name)), 'secretsmanager:GetSecretValue');
    expect(readable('webhook')).toEqual([registrySecrets, webhookSecret].sort());
    expect(readable('adminRegistries')).toEqual([adminKey]);
    expect(readable('ecrEvents')).toEqual([]);
    for (const name of ['adminPolicies', 'adminDevices', 'adminProvisioningKeys', 'adminKeys', 'adminRollouts', 'deviceApi']) expect(readable(name), name).toEqual([adminKey]);
    for (const name of ['provisionDevice', 'batchAdvance', 'setTargets', 'healthCheck', 'rollback', 'monitor', 'ticker']) expect(readable(name), name).toEqual([]);
  });

  it('let each function write only to its own log group, and nothing use a managed policy or a "*" resource', () => {
    for (const name of functionNames) {
      const statements = statementsOf(roleId(name));
      const logGroup = resources[fnId(name)].Properties.LoggingConfig.LogGroup.Ref;
      expect(resourcesAllowed(statements, 'logs:PutLogEvents'), name).toEqual([`${logGroup}.Arn`]);
      expect(resources[roleId(name)].Properties.ManagedPolicyArns, name).toBeUndefined();
      for (const statement of statements) {
        expect(statement.effect).toBe('Allow');
        expect(statement.resources, name).not.toContain('*');
        expect(statement.actions.some((a) => a.endsWith(':*') || a === '*'), name).toBe(false);
      }
    }
    // The only "*" anywhere is inside AmazonAPIGatewayPushToCloudWatchLogs, the managed policy of
    // API Gateway's account-level logging role (an AWS-documented requirement for access logs).
    for (const [id, policy] of ofType('AWS::IAM::Policy')) {
      for (const statement of policy.Properties.PolicyDocument.Statement) expect([statement.Resource].flat().map(ref), id).not.toContain('*');
    }
  });

  it('let only the senders of wake-ups create one-time schedules, in their own group, as the scheduler role, which sends only to the wake queue', () => {
    const scheduleArn = `arn:AWS::Partition:scheduler:AWS::Region:AWS::AccountId:schedule/${synth.stack.scheduleGroupName}/*`;
    const schedulerRole = synth.logicalId(synth.stack.schedulerRole);
    for (const name of functionNames) {
      const statements = statementsOf(roleId(name));
      const createsSchedules = (specOf(name).sendsTo ?? []).includes('wake');
      expect(createsSchedules, name).toBe(name === 'batchAdvance');
      expect(resourcesAllowed(statements, 'scheduler:CreateSchedule'), name).toEqual(createsSchedules ? [scheduleArn] : []);
      // A schedule deletes itself once it has fired; nothing else is needed.
      expect(statements.flatMap((st) => st.actions).filter((a) => a.startsWith('scheduler:')), name).toEqual(createsSchedules ? ['scheduler:CreateSchedule'] : []);
      expect(resourcesAllowed(statements, 'iam:PassRole'), name).toEqual(createsSchedules ? [`${schedulerRole}.Arn`] : []);
    }
    const role = resources[schedulerRole].Properties;
    const [trust] = role.AssumeRolePolicyDocument.Statement;
    expect(trust.Principal).toEqual({ Service: 'scheduler.amazonaws.com' });
    // Schedules present their group as the source: only this stack's group may use the role.
    expect(ref(trust.Condition.StringEquals['aws:SourceArn'])).toBe(
      `arn:AWS::Partition:scheduler:AWS::Region:AWS::AccountId:schedule-group/${synth.stack.scheduleGroupName}`,
    );
    const statements = statementsOf(schedulerRole);
    expect(statements.flatMap((s) => s.actions)).toEqual(['sqs:SendMessage']);
    expect(resourcesAllowed(statements, 'sqs:SendMessage')).toEqual([`${queueId('wake')}.Arn`]);
    synth.template.hasResourceProperties('AWS::Scheduler::ScheduleGroup', { Name: synth.stack.scheduleGroupName });
  });
});

describe("the registries' secrets", () => {
  it('are written by the admin API and read by the webhook, each only under the stack\'s prefix and with the actions its manifest entry grants', () => {
    const registrySecrets = `arn:AWS::Partition:secretsmanager:AWS::Region:AWS::AccountId:secret:${synth.stack.stackName}/registries/*`;
    const granted = functionNames.filter((name) => specOf(name).registrySecrets !== undefined);
    expect(granted.map((name) => [name, specOf(name).registrySecrets]).sort()).toEqual([['adminRegistries', 'write'], ['webhook', 'read']]);
    const allActions = [...registrySecretActions.read, ...registrySecretActions.write];
    for (const name of functionNames) {
      const statements = statementsOf(roleId(name)).filter((st) => st.resources.includes(registrySecrets));
      const access = specOf(name).registrySecrets;
      expect(statements.flatMap((st) => st.actions).sort(), name).toEqual(access ? [...registrySecretActions[access]].sort() : []);
      // Nobody may touch them anywhere else, and the admin API may never read one.
      for (const action of allActions) {
        expect(resourcesAllowed(statementsOf(roleId(name)), action).filter((arn) => arn.includes(':secret:')), `${name} ${action}`).toEqual(
          access && registrySecretActions[access].includes(action) ? [registrySecrets] : [],
        );
      }
    }
    expect(resourcesAllowed(statementsOf(roleId('adminRegistries')), 'secretsmanager:GetSecretValue')).not.toContain(registrySecrets);
  });
});

describe('ECR pushes', () => {
  it('reach the ecrEvents function through a rule on the default bus matching successful ECR pushes only', () => {
    const rules = ofType('AWS::Events::Rule').filter(([, r]) => r.Properties.EventPattern !== undefined);
    expect(rules).toHaveLength(1);
    const [[, rule]] = rules as [[string, Json]];
    expect(rule.Properties.EventPattern).toEqual({
      source: ['aws.ecr'],
      'detail-type': ['ECR Image Action'],
      detail: { 'action-type': ['PUSH'], result: ['SUCCESS'] },
    });
    // No EventBusName: the account's default bus, where ECR puts its events.
    expect(rule.Properties.EventBusName).toBeUndefined();
    expect(rule.Properties.State).toBe('ENABLED');
    expect(rule.Properties.Targets.map((t: Json) => ref(t.Arn))).toEqual([`${fnId('ecrEvents')}.Arn`]);
    expect(rule.Properties.Targets[0].RetryPolicy).toEqual({ MaximumEventAgeInSeconds: 86_400, MaximumRetryAttempts: 2 });
    // Only this rule may invoke the function.
    const permissions = ofType('AWS::Lambda::Permission').filter(([, p]) => ref(p.Properties.FunctionName) === `${fnId('ecrEvents')}.Arn`);
    expect(permissions.map(([, p]) => [p.Properties.Principal, ref(p.Properties.SourceArn)])).toEqual([['events.amazonaws.com', `${rules[0]![0]}.Arn`]]);
  });

  it('come to a function with the table and the orchestration queue, and no secret', () => {
    const variables = Object.keys(resources[fnId('ecrEvents')].Properties.Environment.Variables);
    expect(variables).toEqual(expect.arrayContaining(['TABLE_NAME', 'ORCHESTRATION_QUEUE_URL']));
    expect(variables.filter((v) => v.includes('SECRET'))).toEqual([]);
  });
});

describe('the event bus', () => {
  it('is one EventBridge bus, and only the functions whose manifest entry says putsEvents may put events on it, nowhere else', () => {
    synth.template.resourceCountIs('AWS::Events::EventBus', 1);
    const bus = synth.logicalId(synth.stack.eventBus);
    synth.template.hasResourceProperties('AWS::Events::EventBus', { Name: `${synth.stack.stackName}-events` });
    const putters = functionNames.filter((name) => specOf(name).putsEvents === true);
    expect(putters).toEqual(['notifyEvents']);
    for (const name of functionNames) {
      const statements = statementsOf(roleId(name));
      expect(resourcesAllowed(statements, 'events:PutEvents'), name).toEqual(putters.includes(name) ? [`${bus}.Arn`] : []);
      expect(statements.flatMap((st) => st.actions).filter((a) => a.startsWith('events:')), name).toEqual(putters.includes(name) ? ['events:PutEvents'] : []);
    }
  });
});

describe('the tick', () => {
  it('is an EventBridge rule firing each everyMinute function once a minute', () => {
    const rules = ofType('AWS::Events::Rule').map(([, r]) => r.Properties).filter((r) => r.ScheduleExpression !== undefined);
    const everyMinute = functionNames.filter((name) => specOf(name).everyMinute);
    expect(rules.map((r) => [r.ScheduleExpression, r.State, r.Targets.map((t: Json) => ref(t.Arn))])).toEqual(
      everyMinute.map((name) => ['rate(1 minute)', 'ENABLED', [`${fnId(name)}.Arn`]]),
    );
  });
});

describe('the table', () => {
  it('is the key module definition: keys, indexes and projections', () => {
    const definition = tableDefinition('unused');
    const table = resources[tableId()].Properties;
    const byName = (a: Json, b: Json) => String(a.AttributeName ?? a.IndexName).localeCompare(String(b.AttributeName ?? b.IndexName));
    expect([...table.AttributeDefinitions].sort(byName)).toEqual([...definition.AttributeDefinitions!].sort(byName));
    expect(table.KeySchema).toEqual(definition.KeySchema);
    expect([...table.GlobalSecondaryIndexes].sort(byName)).toEqual([...definition.GlobalSecondaryIndexes!].sort(byName));
  });

  it('is on demand, with point-in-time recovery, the TTL attribute, and kept (with deletion protection) by default', () => {
    const table = resources[tableId()];
    expect(context.removalPolicy).toBe('retain');
    expect(table.Properties).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: ttlAttribute, Enabled: true },
      DeletionProtectionEnabled: true,
    });
    expect(table.DeletionPolicy).toBe('Retain');
  });
});

describe('secrets and alarms', () => {
  it('generates the webhook secret and the admin key in CloudFormation: no value in the template', () => {
    for (const [id, secret] of ofType('AWS::SecretsManager::Secret')) {
      expect(secret.Properties.GenerateSecretString, id).toMatchObject({ ExcludePunctuation: true });
      expect(secret.Properties.SecretString, id).toBeUndefined();
    }
    synth.template.resourceCountIs('AWS::SecretsManager::Secret', 2);
  });

  it('alarms on every dead-letter queue holding a message and on every function failing', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    expect(alarms).toHaveLength(queueNames.length + functionNames.length);
    for (const queue of queueNames) {
      expect(alarms.some((a) => a.MetricName === 'ApproximateNumberOfMessagesVisible' && ref(a.Dimensions[0].Value) === `${dlqId(queue)}.QueueName` && a.Threshold === 1), queue).toBe(true);
    }
    for (const name of functionNames) {
      expect(alarms.some((a) => a.MetricName === 'Errors' && a.Statistic === 'Sum' && ref(a.Dimensions[0].Value) === fnId(name)), name).toBe(true);
    }
  });

  it('outputs the API URL, the table, the secret ARNs and the dead-letter queue URLs', () => {
    const outputs = Object.keys(synth.template.toJSON().Outputs);
    expect(outputs).toEqual(expect.arrayContaining(['ApiUrl', 'RestApiId', 'ApiStageName', 'TableName', 'WebhookSecretArn', 'AdminApiKeySecretArn', 'ReadAdminApiKey']));
    for (const queue of queueNames) expect(outputs).toContain(`${queue.charAt(0).toUpperCase()}${queue.slice(1)}DeadLetterQueueUrl`);
  });
});

describe('the dashboard', () => {
  it("shows every metric the functions emit, each queue's backlog and oldest message, each dead-letter queue and every alarm", () => {
    const dashboards = ofType('AWS::CloudWatch::Dashboard');
    expect(dashboards).toHaveLength(1);
    const body = JSON.parse(ref(dashboards[0]![1].Properties.DashboardBody));
    // Each metric as its namespace, name and dimensions, the references resolved to logical ids.
    const shown: string[] = body.widgets.flatMap((w: Json) => w.properties.metrics ?? []).map((m: Json[]) => m.filter((part) => typeof part === 'string').join(' '));
    for (const name of [...countMetrics, ...latencyMetrics]) expect(shown, name).toContain(`${metricsNamespace} ${name} service ${metricsService}`);
    for (const queue of queueNames) {
      expect(shown, queue).toContain(`AWS/SQS ApproximateNumberOfMessagesVisible QueueName ${queueId(queue)}.QueueName`);
      expect(shown, queue).toContain(`AWS/SQS ApproximateAgeOfOldestMessage QueueName ${queueId(queue)}.QueueName`);
      expect(shown, `${queue} DLQ`).toContain(`AWS/SQS ApproximateNumberOfMessagesVisible QueueName ${dlqId(queue)}.QueueName`);
    }
    const alarmWidget = body.widgets.find((w: Json) => w.type === 'alarm');
    expect(alarmWidget.properties.alarms).toHaveLength(ofType('AWS::CloudWatch::Alarm').length);
  });
});

describe('cdk-nag (AwsSolutions)', () => {
  it('finds no error and no warning that is not suppressed', () => {
    const annotations = Annotations.fromStack(synth.stack);
    const summary = (m: { id: string; entry: { data?: unknown } }) => `${m.id}: ${String(m.entry.data).slice(0, 160)}`;
    expect(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')).map(summary)).toEqual([]);
    expect(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')).map(summary)).toEqual([]);
  });

  it('suppresses only known rules, each with its reason, wildcards only for named resources', () => {
    const suppressions = Object.values(resources).flatMap((r: Json) => r.Metadata?.cdk_nag?.rules_to_suppress ?? []);
    expect(suppressions.length).toBeGreaterThan(0);
    for (const suppression of suppressions) {
      expect(suppression.reason.length, suppression.id).toBeGreaterThan(60);
      if (suppression.id === 'AwsSolutions-IAM5' || suppression.id === 'AwsSolutions-IAM4') expect(suppression.applies_to, suppression.id).toHaveLength(1);
    }
    expect([...new Set(suppressions.map((s: Json) => s.id))].sort()).toEqual(
      ['AwsSolutions-APIG2', 'AwsSolutions-APIG3', 'AwsSolutions-APIG4', 'AwsSolutions-COG4', 'AwsSolutions-IAM4', 'AwsSolutions-IAM5', 'AwsSolutions-L1', 'AwsSolutions-SMG4'].sort(),
    );
  });
});

describe('context parameters', () => {
  let variant: Synthesised;

  beforeAll(async () => {
    variant = await synthesise({ bundle: false, context: { removalPolicy: 'destroy', waf: 'true', alarmEmail: 'ops@example.com' } });
  }, 120_000);

  afterAll(async () => {
    await variant?.remove();
  });

  it('removalPolicy=destroy lets the table, secrets and log groups go with the stack', () => {
    const json = variant.template.toJSON().Resources as Record<string, Json>;
    const table = json[variant.logicalId(variant.stack.table)];
    expect(table.DeletionPolicy).toBe('Delete');
    expect(table.Properties.DeletionProtectionEnabled).toBe(false);
    for (const [id, resource] of Object.entries(json)) {
      if (['AWS::SecretsManager::Secret', 'AWS::Logs::LogGroup'].includes(resource.Type)) expect(resource.DeletionPolicy, id).toBe('Delete');
    }
  });

  it('waf=true puts a web ACL refusing large bodies in front of the stage', () => {
    variant.template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'REGIONAL',
      Rules: [Match.objectLike({ Statement: { SizeConstraintStatement: Match.objectLike({ ComparisonOperator: 'GT', Size: wafMaxBodyBytes }) } })],
    });
    variant.template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 1);
  });

  it('alarmEmail sends every alarm to an email subscription', () => {
    variant.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    const alarms = Object.values(variant.template.toJSON().Resources as Record<string, Json>).filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toHaveLength(1);
  });

  it('keep cdk-nag clean', () => {
    const annotations = Annotations.fromStack(variant.stack);
    expect(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
  });
});
