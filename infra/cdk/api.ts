/**
 * The REST API (API Gateway v1: HTTP APIs are not in LocalStack's free edition): one resource per
 * manifest path, one Lambda proxy method per route, a throttled stage with access logs, and
 * gateway responses that answer in the API's own JSON error shape.
 *
 * Request size: a REST API's payload limit is a fixed 10 MB (and Lambda takes at most 6 MB per
 * synchronous invocation); neither can be lowered. The handlers refuse larger bodies with a 413
 * before parsing (lib/http/api.ts `maxBodyBytes`: 64 KB for admin and device routes, 1 MB for
 * webhooks). To refuse them before any function runs, deploy with `-c waf=true`: a WAF web ACL
 * then blocks bodies over 16 KB, the size WAF inspects for API Gateway at no extra charge (the
 * largest legitimate bodies, registry payloads and device registrations, are a few KB). It is off
 * by default because a web ACL costs about $6 a month even when no request arrives.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import type { HttpMethod, RouteAuth } from '../manifest';

export interface ApiRoute {
  method: HttpMethod;
  /** `/api/v1/devices/{uuid}/state`: literal segments and `{param}` segments. */
  path: string;
  auth: RouteAuth;
  fn: IFunction;
}

export interface FleetApiProps {
  name: string;
  routes: ApiRoute[];
  throttlingRateLimit: number;
  throttlingBurstLimit: number;
  /** A tighter throttle on the routes registries call (auth `webhookSecret`), all registries together. */
  webhookThrottling: { rateLimit: number; burstLimit: number };
  removalPolicy: RemovalPolicy;
  waf: boolean;
}

/** Largest body the optional WAF lets through: WAF's default body inspection size for API Gateway. */
export const wafMaxBodyBytes = 16 * 1024;

export const stageName = 'prod';

const errorTemplate = (code: string, message: string) => ({
  'application/json': `{"error":{"code":"${code}","message":${message}}}`,
});
/** API Gateway's own message, already a quoted JSON string. */
const gatewayMessage = '$context.error.messageString';

export class FleetApi extends Construct {
  readonly api: apigateway.RestApi;
  readonly accessLogs: logs.LogGroup;
  readonly webAcl?: wafv2.CfnWebACL;

  constructor(scope: Construct, id: string, props: FleetApiProps) {
    super(scope, id);

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.removalPolicy,
    });

    this.api = new apigateway.RestApi(this, 'Api', {
      restApiName: props.name,
      description: 'Fleet rollouts: admin API, device state API and registry webhooks',
      // Devices call it directly from wherever they are; an edge endpoint adds a CloudFront hop
      // and a second place where requests can be refused, for no caching benefit (nothing is cacheable).
      endpointConfiguration: { types: [apigateway.EndpointType.REGIONAL] },
      // Access and execution logs need the account's API Gateway CloudWatch role. It is an
      // account-wide setting that other APIs may rely on, so it outlives this stack.
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      deployOptions: {
        stageName,
        throttlingRateLimit: props.throttlingRateLimit,
        throttlingBurstLimit: props.throttlingBurstLimit,
        methodOptions: Object.fromEntries(
          props.routes
            .filter((route) => route.auth === 'webhookSecret')
            .map((route) => [
              `${route.path}/${route.method}`,
              { throttlingRateLimit: props.webhookThrottling.rateLimit, throttlingBurstLimit: props.webhookThrottling.burstLimit, dataTraceEnabled: false },
            ]),
        ),
        accessLogDestination: new apigateway.LogGroupLogDestination(this.accessLogs),
        accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields({
          caller: false,
          httpMethod: true,
          ip: true,
          protocol: true,
          requestTime: true,
          resourcePath: true,
          responseLength: true,
          status: true,
          user: false,
        }),
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        // Full request logging would write bearer keys, device tokens and webhook secrets to the logs.
        dataTraceEnabled: false,
        // Per-method metrics cost per metric; the stage's own metrics are free and enough for alarms.
        metricsEnabled: false,
      },
    });

    this.addRoutes(props.routes);
    this.addGatewayResponses();
    if (props.waf) this.webAcl = this.addWebAcl(props.name);
  }

  private addRoutes(routes: ApiRoute[]): void {
    const integrations = new Map<IFunction, apigateway.LambdaIntegration>();
    for (const route of routes) {
      let integration = integrations.get(route.fn);
      if (!integration) {
        // Each method gets its own invoke permission (scoped to that method and path), so a
        // function can be invoked only through the routes it declares. No console test-invoke.
        integration = new apigateway.LambdaIntegration(route.fn, { proxy: true, allowTestInvoke: false });
        integrations.set(route.fn, integration);
      }
      // Authentication is the function's: bearer admin keys, device tokens and webhook secrets
      // (DESIGN §7), which no API Gateway authorizer could check without the table.
      this.api.root.resourceForPath(route.path).addMethod(route.method, integration, {
        authorizationType: apigateway.AuthorizationType.NONE,
      });
    }
  }

  /** What API Gateway answers itself, in the shape the handlers use: `{"error":{"code","message"}}`. */
  private addGatewayResponses(): void {
    // A REST API answers an unknown path, or a method a path does not have, with 403 "Missing
    // Authentication Token". The embedded host answers 404 (405 for a wrong method); here both are 404.
    this.api.addGatewayResponse('NoSuchRoute', {
      type: apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN,
      statusCode: '404',
      templates: { 'application/json': '{"error":{"code":"not_found","message":"no such route"}}' },
    });
    this.api.addGatewayResponse('TooLarge', {
      type: apigateway.ResponseType.REQUEST_TOO_LARGE,
      statusCode: '413',
      templates: errorTemplate('payload_too_large', gatewayMessage),
    });
    this.api.addGatewayResponse('Throttled', {
      type: apigateway.ResponseType.THROTTLED,
      statusCode: '429',
      templates: errorTemplate('throttled', gatewayMessage),
    });
    this.api.addGatewayResponse('WafBlocked', {
      type: apigateway.ResponseType.WAF_FILTERED,
      statusCode: '413',
      templates: errorTemplate('payload_too_large', `"request refused: bodies larger than ${wafMaxBodyBytes} bytes are not accepted"`),
    });
    this.api.addGatewayResponse('Default4xx', {
      type: apigateway.ResponseType.DEFAULT_4XX,
      templates: errorTemplate('invalid_request', gatewayMessage),
    });
    this.api.addGatewayResponse('Default5xx', {
      type: apigateway.ResponseType.DEFAULT_5XX,
      templates: errorTemplate('internal_error', gatewayMessage),
    });
  }

  private addWebAcl(name: string): wafv2.CfnWebACL {
    const visibility = (metricName: string) => ({ cloudWatchMetricsEnabled: true, sampledRequestsEnabled: true, metricName });
    const webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      name: `${name}-api`,
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility(`${name}-api`),
      rules: [
        {
          name: 'body-size',
          priority: 0,
          action: { block: {} },
          statement: {
            sizeConstraintStatement: {
              // A body WAF cannot inspect in full is larger than the limit by definition: block it.
              fieldToMatch: { body: { oversizeHandling: 'MATCH' } },
              comparisonOperator: 'GT',
              size: wafMaxBodyBytes,
              textTransformations: [{ priority: 0, type: 'NONE' }],
            },
          },
          visibilityConfig: visibility(`${name}-body-size`),
        },
      ],
    });
    new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', {
      resourceArn: this.api.deploymentStage.stageArn,
      webAclArn: webAcl.attrArn,
    });
    return webAcl;
  }
}
