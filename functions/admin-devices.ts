/** Admin API: registering and reading devices, setting an app's container settings. */
import { requireConfig } from '../lib/config';
import { appContainerSchema, deviceRegistrationSchema, pageOfDevices, readDevice, registerDevice, setContainerSettings } from '../lib/devices';
import { apiHandler, pageParams } from '../lib/http/api';
import { adminOnly } from '../lib/http/auth';
import { now } from '../lib/clock';

requireConfig({ table: true });

export const handler = apiHandler(
  {
    'GET /api/v1/devices': adminOnly(async (request) => {
      const { limit, cursor } = pageParams(request);
      const page = await pageOfDevices(limit, cursor);
      return { status: 200, body: { devices: page.items, next_cursor: page.next_cursor } };
    }),
    'POST /api/v1/devices': adminOnly(async (request) => ({
      status: 201,
      body: await registerDevice(request.json(deviceRegistrationSchema), now()),
    })),
    'GET /api/v1/devices/{uuid}': adminOnly(async (request) => ({
      status: 200,
      body: { device: await readDevice(request.params.uuid!) },
    })),
    'PUT /api/v1/devices/{uuid}/apps/{app}': adminOnly(async (request) => ({
      status: 200,
      body: { device: await setContainerSettings(request.params.uuid!, request.params.app!, request.json(appContainerSchema), now()) },
    })),
  },
  { maxBodyBytes: 64 * 1024 },
);
