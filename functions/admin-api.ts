/** Admin API: policies, devices and rollouts. Every route needs an admin key. */
import { z } from 'zod';
import { readDevice, deviceRegistrationSchema, pageOfDevices, registerDevice } from '../lib/devices';
import { rolloutStatuses } from '../lib/domain/types';
import { apiHandler, pageParams, type ApiRequest, type ApiResponse, type RouteHandler } from '../lib/http/api';
import { requireAdmin } from '../lib/http/auth';
import { validate } from '../lib/http/validation';
import { createPolicy, pageOfPolicies, policyInputSchema, policyView, readPolicy, removePolicy, replacePolicy } from '../lib/policies';
import { startRollout } from '../lib/rollouts/control';
import { rolloutDetail, rolloutEvents, rolloutSummaries } from '../lib/rollouts/views';

const rolloutFilter = z.strictObject({
  status: z.enum(rolloutStatuses).optional(),
  image_name: z.string().min(1).max(512).optional(),
  limit: z.string().optional(),
  cursor: z.string().optional(),
});

const admin =
  (route: (request: ApiRequest) => Promise<ApiResponse>): RouteHandler =>
  async (request) => {
    await requireAdmin(request);
    return route(request);
  };

export const handler = apiHandler(
  {
    'GET /api/v1/policies': admin(async (request) => {
      const { limit, cursor } = pageParams(request);
      const page = await pageOfPolicies(limit, cursor);
      return { status: 200, body: { policies: page.items.map(policyView), next_cursor: page.next_cursor } };
    }),
    'POST /api/v1/policies': admin(async (request) => ({
      status: 201,
      body: { policy: policyView(await createPolicy(request.json(policyInputSchema), new Date())) },
    })),
    'GET /api/v1/policies/{policyId}': admin(async (request) => ({
      status: 200,
      body: { policy: policyView(await readPolicy(request.params.policyId!)) },
    })),
    'PUT /api/v1/policies/{policyId}': admin(async (request) => ({
      status: 200,
      body: { policy: policyView(await replacePolicy(request.params.policyId!, request.json(policyInputSchema), new Date())) },
    })),
    'DELETE /api/v1/policies/{policyId}': admin(async (request) => {
      await removePolicy(request.params.policyId!);
      return { status: 204 };
    }),

    'GET /api/v1/devices': admin(async (request) => {
      const { limit, cursor } = pageParams(request);
      const page = await pageOfDevices(limit, cursor);
      return { status: 200, body: { devices: page.items, next_cursor: page.next_cursor } };
    }),
    'POST /api/v1/devices': admin(async (request) => ({
      status: 201,
      body: await registerDevice(request.json(deviceRegistrationSchema), new Date()),
    })),
    'GET /api/v1/devices/{uuid}': admin(async (request) => ({
      status: 200,
      body: { device: await readDevice(request.params.uuid!) },
    })),

    'GET /api/v1/rollouts': admin(async (request) => {
      const { limit, cursor } = pageParams(request);
      const { status, image_name } = validate(rolloutFilter, request.query, 'query');
      return { status: 200, body: await rolloutSummaries({ ...(status ? { status } : {}), ...(image_name ? { image_name } : {}) }, limit, cursor) };
    }),
    'GET /api/v1/rollouts/{rolloutId}': admin(async (request) => ({
      status: 200,
      body: await rolloutDetail(request.params.rolloutId!),
    })),
    'GET /api/v1/rollouts/{rolloutId}/events': admin(async (request) => {
      const { limit, cursor } = pageParams(request, 100, 500);
      return { status: 200, body: await rolloutEvents(request.params.rolloutId!, limit, cursor) };
    }),
    'POST /api/v1/rollouts/{rolloutId}/start': admin(async (request) => ({
      status: 200,
      body: { rollout: await startRollout(request.params.rolloutId!, new Date()) },
    })),
  },
  { maxBodyBytes: 64 * 1024 },
);
