/** The shapes every registry parser shares. */

/** One image a registry says was pushed, in the same form whichever registry sent it. */
export interface ImagePushed {
  /**
   * The registry's name: the configured registry's (lib/registries), or a default route's
   * (`docker-registry`, `distribution`). A parser writes its kind's default; the intake
   * overwrites it with the name of the registry the delivery came to.
   */
  registry: string;
  /** The repository a device would pull: `iotistic/test-app`, `registry.example.com:5000/team/app`. */
  repository: string;
  tag: string;
  /** `sha256:…`, when the registry says it (Docker Hub does not). */
  digest?: string;
  /** ISO 8601. */
  pushed_at: string;
  /** Stable id of this notification: the same delivery posted twice gives the same id. */
  delivery_id: string;
}

/** The parts of an HTTP request a webhook parser looks at. */
export interface WebhookRequest {
  /** Header names lower-cased. */
  headers: Record<string, string | undefined>;
  query: Record<string, string | undefined>;
  /** The raw body, as received. */
  body: string;
}

/** What the configured registry knows that its payloads may not say. */
export interface WebhookContext {
  /** The registry's host (`registry.example.com:5000`), for kinds whose payload names none. */
  host?: string;
}

/**
 * Where a registry that can only repeat a token (it cannot sign) puts it. A kind that declares
 * this gets its secret stored as a SHA-256 only (lib/registries/secrets.ts): comparing what is
 * presented needs no more. A kind without it (one that checks an HMAC) needs the secret itself.
 */
export interface SharedToken {
  /** The token as presented, if at all. */
  read(request: WebhookRequest): string | undefined;
  /** Where the token belongs, for the 401 of a request without one. */
  howToSend: string;
}

/** How one registry proves who it is and says what it pushed. */
export interface RegistryWebhook {
  /** @throws Unauthorized when the request does not carry `secret` the way this registry sends it. */
  authenticate(request: WebhookRequest, secret: string): void;
  /** For kinds that only repeat a token: where it is (see SharedToken). */
  sharedToken?: SharedToken;
  /**
   * The pushes in the request; empty when it carries nothing to roll out.
   * @throws Invalid / UnsupportedMediaType naming the problem.
   */
  parse(request: WebhookRequest, receivedAt: Date, context?: WebhookContext): ImagePushed[];
}
