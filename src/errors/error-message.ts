import { type ErrorCode, errorCodes } from './codes.js';
import { InferqError, isInferqError } from './inferq-error.js';

/**
 * An error as it crosses a boundary that keeps no class (a worker thread's structured clone, a
 * ZeroMQ frame): its code, message and details, rebuilt as an InferqError on the other side.
 */
export interface ErrorMessage {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

/** An InferqError keeps its code; anything else is INFERQ_WORK_FAILED with its message. */
export function errorMessage(err: unknown): ErrorMessage {
  if (isInferqError(err)) {
    return { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) };
  }
  return { code: 'INFERQ_WORK_FAILED', message: err instanceof Error ? err.message : String(err) };
}

/** The receiving side of {@link errorMessage}; an unknown code becomes INFERQ_WORK_FAILED. */
export function errorFromMessage(message: ErrorMessage): InferqError {
  const code = (Object.hasOwn(errorCodes, message.code) ? message.code : 'INFERQ_WORK_FAILED') as ErrorCode;
  return new InferqError(code, message.message, message.details ? { details: message.details } : {});
}
