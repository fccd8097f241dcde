/** Admin API: provisioning keys, which let devices register themselves. */
import { requireConfig } from '../lib/config';
import { apiHandler, pageParams } from '../lib/http/api';
import { adminOnly } from '../lib/http/auth';
import { createProvisioningKey, pageOfProvisioningKeys, provisioningKeySchema, revokeProvisioningKey } from '../lib/provisioning';
import { now } from '../lib/clock';

requireConfig({ table: true });

export const handler = apiHandler(
  {
    'GET /api/v1/provisioning-keys': adminOnly(async (request) => {
      const { limit, cursor } = pageParams(request);
      const page = await pageOfProvisioningKeys(limit, cursor);
      return { status: 200, body: { provisioning_keys: page.items, next_cursor: page.next_cursor } };
    }),
    'POST /api/v1/provisioning-keys': adminOnly(async (request) => ({
      status: 201,
      body: await createProvisioningKey(request.json(provisioningKeySchema), now()),
    })),
    'DELETE /api/v1/provisioning-keys/{keyId}': adminOnly(async (request) => {
      await revokeProvisioningKey(request.params.keyId!, now());
      return { status: 204 };
    }),
  },
  { maxBodyBytes: 16 * 1024 },
);
