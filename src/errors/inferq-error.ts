import { type ErrorCode, errorCodes } from './codes.js';

export interface InferqErrorOptions {
  cause?: unknown;
  /** Structured, client-safe context (the offending key, the allowed values, limits…). */
  details?: Record<string, unknown>;
  /** Overrides the code's default HTTP status (rarely needed). */
  status?: number;
}

/**
 * The one error type inferq throws on purpose. `code` is stable and documented in
 * `docs/errors.md`; `message` says what to fix; `details` is safe to show to clients.
 */
export class InferqError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: InferqErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'InferqError';
    this.code = code;
    this.status = options.status ?? errorCodes[code].status;
    this.details = options.details;
  }

  /** The public body shape of every API error: `{ error: { code, message, details? } }`. */
  toJSON(): ErrorJson {
    return errorJson(this.code, this.message, this.details);
  }
}

/** The public body shape of every API error. */
export interface ErrorJson {
  error: { code: ErrorCode; message: string; details?: Record<string, unknown> };
}

/**
 * The body {@link InferqError.toJSON} gives, built without an error: for answers that are a
 * routine outcome rather than a failure (a client polling a result that is not ready yet), so
 * a hot path does not capture a stack trace per request.
 */
export function errorJson(code: ErrorCode, message: string, details?: Record<string, unknown>): ErrorJson {
  return { error: { code, message, ...(details === undefined ? {} : { details }) } };
}

export function isInferqError(err: unknown, code?: ErrorCode): err is InferqError {
  return err instanceof InferqError && (code === undefined || err.code === code);
}
