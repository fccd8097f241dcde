/** Admin API: watching rollouts and steering them. */
import { requireConfig } from '../lib/config';
import { apiHandler, pageParams } from '../lib/http/api';
import { adminOnly } from '../lib/http/auth';
import { validate } from '../lib/validation';
import { approvalBodySchema as approvalBody, approveRollout, rejectRollout, cancelRollout, controlReasonSchema as reasonBody, startBodySchema as startBody, promoteBodySchema as promoteBody, promoteRollout, pauseRollout, resumeRollout, rollbackAll, rollbackDevice, startRollout } from '../lib/rollouts/control';
import { activeRollouts, currentRolloutView, rolloutDetail, rolloutDevicesByBatch, rolloutEvents, rolloutListQuerySchema as listQuery, rolloutSummaries } from '../lib/rollouts/views';
import { now } from '../lib/clock';
import type { Rollout } from '../lib/domain/types';

requireConfig({ table: true, queues: ['orchestration', 'targets', 'rollback'] });

/** A control command's answer: the rollout as the command left it, shown as the reads show it. */
const answer = async (rollout: Rollout) => ({ rollout: await currentRolloutView(rollout) });

export const handler = apiHandler(
  {
    'GET /api/v1/rollouts': adminOnly(async (request) => {
      const { limit, cursor } = pageParams(request);
      const { status, image_name } = validate(listQuery, request.query, { what: 'query' });
      return { status: 200, body: await rolloutSummaries({ ...(status ? { status } : {}), ...(image_name ? { image_name } : {}) }, limit, cursor) };
    }),
    'GET /api/v1/rollouts/active': adminOnly(async (request) => ({ status: 200, body: await activeRollouts(pageParams(request).limit) })),
    'GET /api/v1/rollouts/{rolloutId}': adminOnly(async (request) => ({ status: 200, body: await rolloutDetail(request.params.rolloutId!) })),
    'GET /api/v1/rollouts/{rolloutId}/devices': adminOnly(async (request) => {
      const { limit, cursor } = pageParams(request, 100, 500);
      return { status: 200, body: await rolloutDevicesByBatch(request.params.rolloutId!, limit, cursor) };
    }),
    'GET /api/v1/rollouts/{rolloutId}/events': adminOnly(async (request) => {
      const { limit, cursor } = pageParams(request, 100, 500);
      return { status: 200, body: await rolloutEvents(request.params.rolloutId!, limit, cursor) };
    }),
    'POST /api/v1/rollouts/{rolloutId}/start': adminOnly(async (request) => {
      const { start_at } = request.json(startBody);
      const { rollout, started } = await startRollout(request.params.rolloutId!, now(), start_at);
      if (started) return { status: 200, body: await answer(rollout) };
      const message = rollout.start_at
        ? `rollout ${rollout.id} starts at ${rollout.start_at}${rollout.planning.done ? '' : ' (or once planned, if later)'}`
        : `rollout ${rollout.id} is still being planned; it starts as soon as planning ends`;
      return { status: 202, body: { ...(await answer(rollout)), message } };
    }),
    'POST /api/v1/rollouts/{rolloutId}/pause': adminOnly(async (request) => ({
      status: 200,
      body: await answer(await pauseRollout(request.params.rolloutId!, request.json(reasonBody).reason, now())),
    })),
    'POST /api/v1/rollouts/{rolloutId}/resume': adminOnly(async (request) => ({
      status: 200,
      body: await answer(await resumeRollout(request.params.rolloutId!, now())),
    })),
    'POST /api/v1/rollouts/{rolloutId}/promote': adminOnly(async (request, admin) => {
      const { reason, full } = request.json(promoteBody);
      return { status: 200, body: await answer(await promoteRollout(request.params.rolloutId!, reason, full, now(), admin.name)) };
    }),
    'POST /api/v1/rollouts/{rolloutId}/approve': adminOnly(async (request, admin) => ({
      status: 200,
      body: await answer(await approveRollout(request.params.rolloutId!, admin, request.json(approvalBody).comment, now())),
    })),
    'POST /api/v1/rollouts/{rolloutId}/reject': adminOnly(async (request, admin) => ({
      status: 200,
      body: await answer(await rejectRollout(request.params.rolloutId!, admin, request.json(approvalBody).comment, now())),
    })),
    'POST /api/v1/rollouts/{rolloutId}/cancel': adminOnly(async (request) => ({
      status: 200,
      body: await answer(await cancelRollout(request.params.rolloutId!, request.json(reasonBody).reason, now())),
    })),
    'POST /api/v1/rollouts/{rolloutId}/rollback-all': adminOnly(async (request) => {
      const outcome = await rollbackAll(request.params.rolloutId!, request.json(reasonBody).reason, now());
      return { status: 200, body: { ...outcome, ...(await answer(outcome.rollout)) } };
    }),
    'POST /api/v1/rollouts/{rolloutId}/devices/{uuid}/rollback': adminOnly(async (request) => ({
      status: 200,
      body: await rollbackDevice(request.params.rolloutId!, request.params.uuid!, request.json(reasonBody).reason, now()),
    })),
  },
  { maxBodyBytes: 64 * 1024 },
);
