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
  toJSON(): { error: { code: ErrorCode; message: string; details?: Record<string, unknown> } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

export function isInferqError(err: unknown, code?: ErrorCode): err is InferqError {
  return err instanceof InferqError && (code === undefined || err.code === code);
}
