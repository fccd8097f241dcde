/**
 * The errors a use case may raise for a client's mistake. Each maps to one HTTP status in
 * `lib/http`; anything else is a fault of ours and becomes a 500 without detail.
 */
import { z } from 'zod';

/** The body of every error answer (lib/http/api.ts `errorResult`). */
export const errorBodySchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    /** For a refused body or query: `{issues: [{path, message}]}`, each problem on its own. */
    details: z.unknown().optional(),
  }),
});

export abstract class ClientError extends Error {
  abstract readonly statusCode: number;
  abstract readonly code: string;
  constructor(
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class Invalid extends ClientError {
  readonly statusCode = 400;
  readonly code = 'invalid_request';
}

export class Unauthorized extends ClientError {
  readonly statusCode = 401;
  readonly code = 'unauthorized';
}

export class Forbidden extends ClientError {
  readonly statusCode = 403;
  readonly code = 'forbidden';
}

export class NotFound extends ClientError {
  readonly statusCode = 404;
  readonly code = 'not_found';
}

export class Conflict extends ClientError {
  readonly statusCode = 409;
  readonly code = 'conflict';
}

export class PayloadTooLarge extends ClientError {
  readonly statusCode = 413;
  readonly code = 'payload_too_large';
}

export class UnsupportedMediaType extends ClientError {
  readonly statusCode = 415;
  readonly code = 'unsupported_media_type';
}

/** Over a rate limit: the answer carries `Retry-After`, the whole seconds until a retry can pass. */
export class TooManyRequests extends ClientError {
  readonly statusCode = 429;
  readonly code = 'too_many_requests';
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}
