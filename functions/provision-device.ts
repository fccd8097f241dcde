/** Devices registering themselves with a provisioning key: the device and its token, shown once. */
import { requireConfig } from '../lib/config';
import { deviceRegistrationSchema } from '../lib/devices';
import { apiHandler } from '../lib/http/api';
import { requireProvisioningKey } from '../lib/http/auth';
import { provisionDevice } from '../lib/provisioning';
import { now as clockNow } from '../lib/clock';

requireConfig({ table: true, queues: ['orchestration'] });

export const handler = apiHandler(
  {
    'POST /api/v1/devices/provision': async (request) => {
      const now = clockNow();
      // The key first, so that a refused key learns nothing of the body's rules; nothing is written before both pass.
      const credential = await requireProvisioningKey(request, now);
      const registration = request.json(deviceRegistrationSchema);
      return { status: 201, body: await provisionDevice(credential, registration, now) };
    },
  },
  { maxBodyBytes: 64 * 1024 },
);
