/** Admin API: the registries that send pushes, each with its own webhook URL, secret, host aliases and rate limit. */
import { now } from '../lib/clock';
import { requireConfig } from '../lib/config';
import { apiHandler, pageParams } from '../lib/http/api';
import { adminOnly } from '../lib/http/auth';
import {
  changeRegistry,
  createRegistry,
  pageOfRegistries,
  readRegistry,
  registryInputSchema,
  registryPatchSchema,
  removeRegistry,
} from '../lib/registries/registries';

requireConfig({ table: true, registrySecrets: true });

export const handler = apiHandler(
  {
    'GET /api/v1/registries': adminOnly(async (request) => {
      const { limit, cursor } = pageParams(request);
      return { status: 200, body: await pageOfRegistries(limit, cursor, request.baseUrl) };
    }),
    'POST /api/v1/registries': adminOnly(async (request, admin) => ({
      status: 201,
      body: await createRegistry(request.json(registryInputSchema), admin, now(), request.baseUrl),
    })),
    'GET /api/v1/registries/{name}': adminOnly(async (request) => ({
      status: 200,
      body: await readRegistry(request.params.name!, request.baseUrl),
    })),
    'PATCH /api/v1/registries/{name}': adminOnly(async (request) => ({
      status: 200,
      body: await changeRegistry(request.params.name!, request.json(registryPatchSchema), now(), request.baseUrl),
    })),
    'DELETE /api/v1/registries/{name}': adminOnly(async (request) => {
      await removeRegistry(request.params.name!);
      return { status: 204 };
    }),
  },
  { maxBodyBytes: 16 * 1024 },
);
