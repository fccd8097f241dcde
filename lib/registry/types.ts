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
  /** `sha256:…`, when the registry says it or its manifest API was asked (Docker Hub's webhook names none). */
  digest?: string;
  /**
   * Where `digest` comes from: the registry's notification, or a look-up of the tag in the
   * registry's manifest API when the push arrived (lib/registries/push-digests.ts).
   */
  digest_source?: DigestSource;
  /** Why a push has no digest: the look-up failed (and how), or none was made. Its rollout targets the tag. */
  digest_unresolved?: string;
  /** ISO 8601. */
  pushed_at: string;
  /** Stable id of this notification: the same delivery posted twice gives the same id. */
  delivery_id: string;
}

export const digestSources = ['registry', 'resolved'] as const;
export type DigestSource = (typeof digestSources)[number];

/** The parts of an HTTP request a webhook parser looks at. */
export interface WebhookRequest {
  /** Header names lower-cased. */
  headers: Record<string, string | undefined>;
  query: Record<string, string | undefined>;
  /** The raw body, as received. */
  body: string;
}

/** What the configuration of a registry adds to what its payloads say. */
export interface ParseContext {
  /**
   * The host (with its port, if any) devices pull this registry's images from, e.g.
   * `mycompany.jfrog.io`. JFrog's payload names no pull host, so its parser needs it; the others
   * use it only where a payload leaves its host out (a Distribution event without `request.host`).
   */
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

/** How one kind of registry proves who it is and says what it pushed. */
export interface RegistryWebhook {
  /**
   * Reads the credential only (and, for a signature, the raw body as bytes): nothing of the body
   * is parsed before it matches.
   * @throws Unauthorized when the request does not carry `secret` the way this registry sends it.
   */
  authenticate(request: WebhookRequest, secret: string): void;
  /** For kinds that only repeat a token: where it is (see SharedToken). */
  sharedToken?: SharedToken;
  /**
   * The pushes in the request; empty when it carries nothing to roll out (a ping, a delete, an
   * untagged push, a package that is not a container image).
   * @throws Invalid / UnsupportedMediaType naming the problem.
   */
  parse(request: WebhookRequest, receivedAt: Date, context?: ParseContext): ImagePushed[];
}
