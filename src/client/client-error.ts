import type { ErrorCode } from '../errors/codes.js';

/**
 * A failed call. `code` is the API's stable error code (docs/errors.md) when the server
 * answered with one, or a client-side code: `INFERQ_CLIENT_NETWORK` (no answer),
 * `INFERQ_CLIENT_BAD_RESPONSE` (an answer that is not inferq's), `INFERQ_CLIENT_TIMEOUT` (wait
 * gave up), `INFERQ_CLIENT_ABORTED`.
 */
export class InferqClientError extends Error {
  override readonly name = 'InferqClientError';
  readonly code: ErrorCode | ClientErrorCode | (string & {});
  /** HTTP status, or 0 when no response came. */
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: string,
    message: string,
    options: { status?: number; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status ?? 0;
    this.details = options.details;
  }
}

export type ClientErrorCode =
  | 'INFERQ_CLIENT_NETWORK'
  | 'INFERQ_CLIENT_BAD_RESPONSE'
  | 'INFERQ_CLIENT_TIMEOUT'
  | 'INFERQ_CLIENT_ABORTED';

export function isInferqClientError(err: unknown): err is InferqClientError {
  return err instanceof InferqClientError;
}
