/** The shapes every registry parser shares. */

/** One image a registry says was pushed, in the same form whichever registry sent it. */
export interface ImagePushed {
  /** The webhook route's name, e.g. `docker-registry` or `distribution`. */
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

/** How one registry proves who it is and says what it pushed. */
export interface RegistryWebhook {
  /** @throws Unauthorized when the request does not carry `secret` the way this registry sends it. */
  authenticate(request: WebhookRequest, secret: string): void;
  /**
   * The pushes in the request; empty when it carries nothing to roll out.
   * @throws Invalid / UnsupportedMediaType naming the problem.
   */
  parse(request: WebhookRequest, receivedAt: Date): ImagePushed[];
}
