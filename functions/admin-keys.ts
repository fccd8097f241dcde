/** Admin API: named admin keys, one per person or tool, so that what an admin does says who did it. */
import { adminKeySchema, createAdminKey, pageOfAdminKeys, revokeAdminKey } from '../lib/admin-keys';
import { now } from '../lib/clock';
import { requireConfig } from '../lib/config';
import { apiHandler, pageParams } from '../lib/http/api';
import { adminOnly } from '../lib/http/auth';

requireConfig({ table: true });

export const handler = apiHandler(
  {
    'GET /api/v1/admin-keys': adminOnly(async (request) => {
      const { limit, cursor } = pageParams(request);
      const page = await pageOfAdminKeys(limit, cursor);
      return { status: 200, body: { admin_keys: page.items, next_cursor: page.next_cursor } };
    }),
    'POST /api/v1/admin-keys': adminOnly(async (request, admin) => ({
      status: 201,
      body: await createAdminKey(request.json(adminKeySchema), admin, now()),
    })),
    'DELETE /api/v1/admin-keys/{keyId}': adminOnly(async (request, admin) => {
      await revokeAdminKey(request.params.keyId!, admin, now());
      return { status: 204 };
    }),
  },
  { maxBodyBytes: 4 * 1024 },
);
