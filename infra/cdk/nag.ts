/**
 * cdk-nag's AwsSolutions pack runs on every synthesis (`cdk synth`, `cdk deploy` and the template
 * tests); an unexplained finding fails it. Each suppression below is a decision, scoped to the
 * resources it concerns, with the reason a reviewer would ask for.
 */
import { Aspects, type App, type CfnElement } from 'aws-cdk-lib';
import { AwsSolutionsChecks, NagSuppressions } from 'cdk-nag';
import type { FleetRolloutStack } from './stack';

export function applyNagChecks(app: App, stack: FleetRolloutStack): void {
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));

  NagSuppressions.addResourceSuppressions(
    stack.api.api,
    [
      {
        id: 'AwsSolutions-APIG4',
        reason:
          'Authentication is done in the functions (DESIGN §7): admin routes take hashed bearer admin keys, device routes the ' +
          "device's own token, webhooks the registry's secret compared in constant time. An authorizer could not check these " +
          'without the table, and would add an invocation per request on the device hot path.',
      },
      {
        id: 'AwsSolutions-COG4',
        reason: 'There are no Cognito users: admins, devices and registries authenticate with keys and tokens checked in the functions.',
      },
      {
        id: 'AwsSolutions-APIG2',
        reason:
          'Every function validates its input with zod schemas (lib/validation.ts) and answers a 4xx JSON error naming the ' +
          'problem before anything is written (DESIGN §6, invariant 6); an API Gateway validator would duplicate the schemas with another error shape.',
      },
      ...(stack.api.webAcl
        ? []
        : [
            {
              id: 'AwsSolutions-APIG3',
              reason:
                'WAF is opt-in (-c waf=true): a web ACL costs about $6 a month when idle, and the functions already refuse oversized ' +
                'bodies, authenticate every request and the stage is throttled.',
            },
          ]),
    ],
    true,
  );

  NagSuppressions.addResourceSuppressions(
    stack.api.api,
    [
      {
        id: 'AwsSolutions-IAM4',
        reason:
          "API Gateway's account-level CloudWatch role, needed for access and execution logs; AmazonAPIGatewayPushToCloudWatchLogs " +
          'is the policy AWS documents for it, and only apigateway.amazonaws.com can assume the role.',
        appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs'],
      },
    ],
    true,
  );

  for (const fn of Object.values(stack.functions)) {
    NagSuppressions.addResourceSuppressions(fn, [
      {
        id: 'AwsSolutions-L1',
        reason:
          'DESIGN §8 fixes nodejs22.x (middy 6; bundles target node22); moving to a newer runtime is a toolchain decision taken with the design, not a lint fix.',
      },
    ]);
  }
  const tableArn = `<${stack.getLogicalId(stack.table.node.defaultChild as CfnElement)}.Arn>`;
  for (const fn of stack.tableUsers) {
    NagSuppressions.addResourceSuppressions(
      fn.role!,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            "The functions query the table's global secondary indexes (byKind, byStatus, deviceList in lib/store/keys.ts); " +
            "'index/*' matches only this table's indexes.",
          appliesTo: [`Resource::${tableArn}/index/*`],
        },
      ],
      true,
    );
  }
  for (const fn of stack.scheduleCreators) {
    NagSuppressions.addResourceSuppressions(
      fn.role!,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'One-time schedules are created at run time, named after the rollout they wake and its due time; the wildcard is limited to the ' +
            "schedules of this stack's own schedule group.",
          appliesTo: [`Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/${stack.scheduleGroupName}/*`],
        },
      ],
      true,
    );
  }

  for (const fn of stack.registrySecretUsers) {
    NagSuppressions.addResourceSuppressions(
      fn.role!,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            "A registry's secret that an HMAC needs as it is gets a Secrets Manager secret of its own when an admin creates the " +
            "registry; the wildcard is limited to this stack's prefix (<stack>/registries/), and to the actions the manifest grants.",
          appliesTo: [`Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${stack.stackName}/registries/*`],
        },
      ],
      true,
    );
  }

  NagSuppressions.addResourceSuppressions([stack.webhookSecret, stack.adminKeySecret], [
    {
      id: 'AwsSolutions-SMG4',
      reason:
        "The webhook secret is configured in each registry and the admin key in operators' tools, so an automatic rotation " +
        'would break both without notice. They are rotated by hand (README, "Rotating the secrets"); functions read a new value within 5 minutes.',
    },
  ]);

  const alarmTopic = stack.node.tryFindChild('AlarmTopic');
  if (alarmTopic) {
    NagSuppressions.addResourceSuppressions(alarmTopic, [
      {
        id: 'AwsSolutions-SNS2',
        reason:
          "CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed SNS key, and the topic carries only alarm names and states; it enforces TLS (SNS3).",
      },
    ]);
  }
}
