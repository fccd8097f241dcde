/**
 * Azure Container Registry webhooks, kind `acr`.
 *
 * ACR posts one event per request, shaped like one Distribution event: `{ id, timestamp, action,
 * target: { mediaType, size, digest, length, repository, tag }, request: { id, host, method,
 * useragent } }`. `action` is `push`, `delete`, `quarantine`, `chart_push` or `chart_delete`; only a
 * `push` of a tagged image manifest or index is a push to roll out (a legacy Helm chart arrives
 * as `chart_push`, with media type `application/vnd.acr.helm.chart`, and is ignored). `id` is the
 * delivery id and `request.host` (`myregistry.azurecr.io`) the host devices pull from.
 *
 * ACR adds no header of its own beyond the webhook's custom headers, so the secret is one of
 * them: `Authorization: Bearer <secret>` (`az acr webhook create … --headers "Authorization=Bearer <secret>"`).
 */
import { manifestPush } from './distribution';
import { parseJsonObject, requireContentType } from './payload';
import { bearerToken, sharedTokenAuthentication } from './sender-auth';
import type { ImagePushed, ParseContext, RegistryWebhook, SharedToken, WebhookRequest } from './types';

export const ACR = 'acr';

const token: SharedToken = {
  read: bearerToken,
  howToSend: 'add the custom header "Authorization: Bearer <secret>" to the ACR webhook (--headers "Authorization=Bearer <secret>")',
};

export const acr: RegistryWebhook = {
  sharedToken: token,
  authenticate: sharedTokenAuthentication(token),

  parse(request: WebhookRequest, receivedAt: Date, context?: ParseContext): ImagePushed[] {
    requireContentType(request, ['application/json']);
    const push = manifestPush(parseJsonObject(request.body), ACR, '', receivedAt, context);
    return push === undefined ? [] : [push];
  },
};
