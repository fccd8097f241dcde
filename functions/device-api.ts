/** The device hot path: poll the target state (ETag, 304 when unchanged), report the current state. */
import { requireConfig } from '../lib/config';
import { etagOf, isUnchanged, pollIntervalOf, reportCurrentState, stateReportSchema, targetStateOf } from '../lib/devices';
import { apiHandler } from '../lib/http/api';
import { requireDevice } from '../lib/http/auth';
import { now } from '../lib/clock';
import { pendingJoinsOverdue, sendPendingJoins } from '../lib/rollouts/joins';

requireConfig({ table: true, queues: ['orchestration', 'targets'] });

export const handler = apiHandler(
  {
    'GET /api/v1/devices/{uuid}/state': async (request) => {
      const device = await requireDevice(request, request.params.uuid!);
      const at = now();
      // Requests to join that its registration or a label change could not send go out now.
      if (pendingJoinsOverdue(device, at)) await sendPendingJoins(device);
      // A 304 has no body, so the poll hint travels as a header too.
      const headers = { etag: etagOf(device), 'x-poll-interval-seconds': String(pollIntervalOf(device, at)) };
      if (isUnchanged(request.headers['if-none-match'], headers.etag)) return { status: 304, headers };
      return { status: 200, body: targetStateOf(device, at), headers };
    },
    'PATCH /api/v1/devices/{uuid}/state': async (request) => {
      const device = await requireDevice(request, request.params.uuid!);
      const report = request.json(stateReportSchema);
      return { status: 200, body: { current_state: await reportCurrentState(device, report, now()) } };
    },
  },
  { maxBodyBytes: 64 * 1024 },
);
