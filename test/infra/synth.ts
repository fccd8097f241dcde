/**
 * Synthesises the CDK app as `cdk synth` does (cdk.json's context, cdk-nag included) into a
 * temporary directory, for the template and bundle tests.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildFleetRollout } from '../../infra/cdk/build';
import type { FleetRolloutStack } from '../../infra/cdk/stack';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface Synthesised {
  app: App;
  stack: FleetRolloutStack;
  template: Template;
  /** The cloud assembly directory (what `cdk synth` writes to cdk.out). */
  outdir: string;
  /** The logical id of a construct's CloudFormation resource. */
  logicalId(construct: { node: { defaultChild?: unknown } }): string;
  remove(): Promise<void>;
}

export async function cdkJsonContext(): Promise<Record<string, unknown>> {
  const cdkJson = JSON.parse(await readFile(join(repoRoot, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
  return cdkJson.context;
}

/**
 * `bundle: false` skips esbuild (CDK's `aws:cdk:bundling-stacks` context): the template is the
 * same but for the code assets' hashes, and synthesis takes seconds instead of half a minute.
 */
export async function synthesise(options: { bundle: boolean; context?: Record<string, unknown> }): Promise<Synthesised> {
  const outdir = await mkdtemp(join(tmpdir(), 'fleet-rollout-cdk-'));
  const app = new App({
    outdir,
    context: {
      ...(await cdkJsonContext()),
      ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
      ...options.context,
    },
  });
  let stack: FleetRolloutStack;
  try {
    stack = buildFleetRollout(app);
    app.synth();
  } catch (error) {
    // cdk-nag's errors (and CloudFormation validation findings) fail synthesis; show them.
    const report = await readFile(join(outdir, 'validation-report.json'), 'utf8').catch(() => '');
    await rm(outdir, { recursive: true, force: true });
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${report.slice(0, 20_000)}`);
  }
  return {
    app,
    stack,
    template: Template.fromStack(stack),
    outdir,
    logicalId: (construct) => stack.getLogicalId(construct.node.defaultChild as CfnElement),
    remove: () => rm(outdir, { recursive: true, force: true }),
  };
}
