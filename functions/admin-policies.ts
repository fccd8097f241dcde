/** Admin API: update policies. */
import { requireConfig } from '../lib/config';
import { apiHandler, pageParams } from '../lib/http/api';
import { adminOnly } from '../lib/http/auth';
import { createPolicy, pageOfPolicies, policyInputSchema, policyView, readPolicy, removePolicy, replacePolicy } from '../lib/policies';
import { now } from '../lib/clock';

requireConfig({ table: true });

export const handler = apiHandler(
  {
    'GET /api/v1/policies': adminOnly(async (request) => {
      const { limit, cursor } = pageParams(request);
      const page = await pageOfPolicies(limit, cursor);
      return { status: 200, body: { policies: page.items.map(policyView), next_cursor: page.next_cursor } };
    }),
    'POST /api/v1/policies': adminOnly(async (request) => ({
      status: 201,
      body: { policy: policyView(await createPolicy(request.json(policyInputSchema), now())) },
    })),
    'GET /api/v1/policies/{policyId}': adminOnly(async (request) => ({
      status: 200,
      body: { policy: policyView(await readPolicy(request.params.policyId!)) },
    })),
    'PUT /api/v1/policies/{policyId}': adminOnly(async (request) => ({
      status: 200,
      body: { policy: policyView(await replacePolicy(request.params.policyId!, request.json(policyInputSchema), now())) },
    })),
    'DELETE /api/v1/policies/{policyId}': adminOnly(async (request) => {
      await removePolicy(request.params.policyId!);
      return { status: 204 };
    }),
  },
  { maxBodyBytes: 64 * 1024 },
);
