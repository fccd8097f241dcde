/**
 * The CDK app (cdk.json `app`): the fleet-rollout stack, checked by cdk-nag's AwsSolutions pack
 * on every synthesis, so `cdk deploy` refuses a template with an unexplained finding.
 */
import { App } from 'aws-cdk-lib';
import { buildFleetRollout } from './build';

buildFleetRollout(new App());
