/**
 * GitLab container registry notifications, kind `gitlab`.
 *
 * GitLab's registry is a fork of CNCF Distribution and notifies in the same envelope
 * (`{ events: [{ id, action, target: { mediaType, digest, repository, tag }, request: { host } }] }`),
 * so the parsing is Distribution's: only tagged manifest pushes count, each event's `id` is its
 * delivery id, and `request.host` (the host pushed to) prefixes the repository.
 *
 * Self-managed GitLab only: the endpoint is configured in `gitlab.rb` under
 * `registry['notifications']` (or the chart's `registry.notifications`), whose `headers` carry
 * `Authorization: ["Bearer <secret>"]`.
 */
import { bearerToken, sharedTokenAuthentication } from './sender-auth';
import { distributionPushes } from './distribution';
import type { ImagePushed, ParseContext, RegistryWebhook, SharedToken, WebhookRequest } from './types';

export const GITLAB = 'gitlab';

const token: SharedToken = {
  read: bearerToken,
  howToSend: 'send the header "Authorization: Bearer <secret>" (registry notifications endpoint headers in gitlab.rb)',
};

export const gitlab: RegistryWebhook = {
  sharedToken: token,
  authenticate: sharedTokenAuthentication(token),

  parse(request: WebhookRequest, receivedAt: Date, context?: ParseContext): ImagePushed[] {
    return distributionPushes(request, GITLAB, receivedAt, context);
  },
};
