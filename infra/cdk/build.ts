/** Builds the app's one stack from context; shared by infra/cdk/app.ts and the template tests. */
import type { App } from 'aws-cdk-lib';
import { applyNagChecks } from './nag';
import { readSettings } from './settings';
import { FleetRolloutStack } from './stack';

export function buildFleetRollout(app: App): FleetRolloutStack {
  const settings = readSettings(app.node);
  const stack = new FleetRolloutStack(app, settings.stackName, {
    settings,
    description: 'Staged container-image rollouts for IoT fleets (fleet-rollout)',
  });
  applyNagChecks(app, stack);
  return stack;
}
