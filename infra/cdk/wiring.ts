/**
 * The checks that make a wiring deployable, as plain data, kept apart from the constructs so that
 * they read, and are tested, without synthesis. What each function is granted is declared in the
 * manifest (`table`, `sendsTo`, `secrets`; infra/manifest.ts `grantsOf`), not guessed here.
 *
 * Nothing here names a function, route or queue: each rule follows from what the manifest
 * declares, so a function added to the manifest gets its wiring without touching the stack.
 */
import type { FunctionSpec, QueueName, QueueSpec } from '../manifest';
import { routeAuthProblems } from '../route-auth';

export interface Wiring {
  functions: Readonly<Record<string, FunctionSpec>>;
  queues: Readonly<Record<QueueName, QueueSpec>>;
}

/** API Gateway ends an integration after 29 seconds, whatever the function's own timeout. */
export const apiGatewayIntegrationTimeoutSeconds = 29;

/** SQS event source mappings on FIFO queues take at most 10 records per batch. */
const maxFifoBatchSize = 10;

/** The queues marked `scheduleTarget` (a deployable wiring has at most one). */
export function scheduleTargetQueues(wiring: Wiring): QueueName[] {
  return (Object.entries(wiring.queues) as [QueueName, QueueSpec][]).filter(([, spec]) => spec.scheduleTarget === true).map(([name]) => name);
}

/**
 * Everything that would make the wiring fail to deploy or misbehave once deployed, in one error
 * that lists every problem and where to fix it. Thrown at synthesis, before anything is built.
 */
export function checkWiring(wiring: Wiring): void {
  const problems: string[] = [];
  const consumers = new Map<QueueName, string[]>();
  const routes = new Map<string, string>();

  for (const [name, spec] of Object.entries(wiring.functions)) {
    for (const trigger of spec.queues ?? []) {
      const queue: QueueSpec | undefined = wiring.queues[trigger.queue];
      if (!queue) {
        problems.push(`function ${name} consumes queue "${trigger.queue}", which is not declared`);
        continue;
      }
      consumers.set(trigger.queue, [...(consumers.get(trigger.queue) ?? []), name]);
      if (queue.visibilityTimeoutSeconds < spec.timeoutSeconds) {
        problems.push(
          `queue ${trigger.queue}: visibility timeout ${queue.visibilityTimeoutSeconds} s is shorter than the ${spec.timeoutSeconds} s timeout ` +
            `of its consumer ${name}, so SQS would hand a message to a second invocation while the first still runs ` +
            `(raise visibilityTimeoutSeconds to at least ${spec.timeoutSeconds}; AWS recommends six times the function timeout)`,
        );
      }
      if (!Number.isInteger(trigger.batchSize) || trigger.batchSize < 1) {
        problems.push(`function ${name}: batch size ${trigger.batchSize} on queue ${trigger.queue} must be a positive integer`);
      }
      if (queue.fifo && trigger.batchSize > maxFifoBatchSize) {
        problems.push(`function ${name}: batch size ${trigger.batchSize} on FIFO queue ${trigger.queue} exceeds ${maxFifoBatchSize}`);
      }
      if (queue.fifo && trigger.maxBatchingWindowSeconds !== undefined) {
        problems.push(`function ${name}: FIFO queue ${trigger.queue} takes no batching window`);
      }
      if (!queue.fifo && trigger.batchSize > 10 && !trigger.maxBatchingWindowSeconds) {
        problems.push(`function ${name}: a batch size above 10 on queue ${trigger.queue} needs a batching window`);
      }
    }
    for (const queue of spec.sendsTo ?? []) {
      if (!wiring.queues[queue]) problems.push(`function ${name} sends to queue "${queue}", which is not declared`);
    }
    if (spec.routes?.length && spec.timeoutSeconds > apiGatewayIntegrationTimeoutSeconds) {
      problems.push(
        `function ${name} serves HTTP routes but its timeout ${spec.timeoutSeconds} s exceeds API Gateway's ${apiGatewayIntegrationTimeoutSeconds} s integration timeout`,
      );
    }
    if (spec.onEvents) {
      const { source, 'detail-type': detailType, detail = {} } = spec.onEvents;
      const empty = [['source', source], ['detail-type', detailType], ...Object.entries(detail).map(([field, values]) => [`detail.${field}`, values] as const)]
        .filter(([, values]) => values.length === 0)
        .map(([field]) => field);
      // An empty list would match nothing on AWS, and CloudFormation refuses it: a rule that can never fire.
      if (empty.length > 0) problems.push(`function ${name}: its onEvents pattern lists no value for ${empty.join(', ')}`);
      if (spec.everyMinute) problems.push(`function ${name} is both everyMinute and onEvents: one rule per function`);
    }
    for (const route of spec.routes ?? []) {
      const key = `${route.method} ${route.path}`;
      const other = routes.get(key);
      if (other) problems.push(`route ${key} is declared by both ${other} and ${name}`);
      routes.set(key, name);
    }
  }

  // A route nobody decided who may call would be deployed open to whatever its handler allows.
  problems.push(...routeAuthProblems(wiring.functions));

  for (const queue of Object.keys(wiring.queues) as QueueName[]) {
    const names = consumers.get(queue) ?? [];
    if (names.length !== 1) {
      problems.push(`queue ${queue} must have exactly one consumer, has ${names.length === 0 ? 'none' : names.join(', ')}`);
    }
  }
  const targets = scheduleTargetQueues(wiring);
  if (targets.length > 1) {
    problems.push(`queues ${targets.join(', ')} are all marked scheduleTarget: wake-ups must have one queue`);
  }
  for (const queue of targets) {
    if (wiring.queues[queue].fifo) {
      problems.push(`queue ${queue} is a schedule target but FIFO: wake-ups up to 15 minutes ahead are delayed messages, which FIFO queues do not take`);
    }
  }

  if (problems.length > 0) {
    throw new Error(`The wiring in infra/manifest.ts cannot be deployed:\n- ${problems.join('\n- ')}`);
  }
}
