/** Admin API: registering, reading, changing (name, IP address, labels) and deleting devices, setting an app's container settings, rotating a device's token. */
import { requireConfig } from '../lib/config';
import {
  appContainerSchema,
  deleteDevice,
  devicePatchSchema,
  deviceRegistrationSchema,
  labelFilterOf,
  statusFilterOf,
  pageOfDevices,
  patchDevice,
  readDevice,
  registerDevice,
  rotateDeviceToken,
  setContainerSettings,
} from '../lib/devices';
import { apiHandler, pageParams } from '../lib/http/api';
import { adminOnly } from '../lib/http/auth';
import { now } from '../lib/clock';

requireConfig({ table: true, queues: ['orchestration'] });

export const handler = apiHandler(
  {
    'GET /api/v1/devices': adminOnly(async (request) => {
      const { limit, cursor } = pageParams(request);
      const page = await pageOfDevices(limit, cursor, labelFilterOf(request.queryValues.label ?? []), statusFilterOf(request.queryValues.status ?? []));
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
    'PATCH /api/v1/devices/{uuid}': adminOnly(async (request) => ({
      status: 200,
      body: { device: await patchDevice(request.params.uuid!, request.json(devicePatchSchema), now()) },
    })),
    'PUT /api/v1/devices/{uuid}/apps/{app}': adminOnly(async (request) => ({
      status: 200,
      body: { device: await setContainerSettings(request.params.uuid!, request.params.app!, request.json(appContainerSchema), now()) },
    })),
    'DELETE /api/v1/devices/{uuid}': adminOnly(async (request) => {
      await deleteDevice(request.params.uuid!, now());
      return { status: 204 };
    }),
    'POST /api/v1/devices/{uuid}/token': adminOnly(async (request) => ({
      status: 200,
      body: await rotateDeviceToken(request.params.uuid!, now()),
    })),
  },
  { maxBodyBytes: 64 * 1024 },
);
