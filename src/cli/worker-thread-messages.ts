import type { MetricsJson } from '../api/app-deps.js';
import type { Config } from '../config/schema.js';
import { type ErrorCode, errorCodes } from '../errors/codes.js';
import { InferqError, isInferqError } from '../errors/index.js';
import type { ModelInput, PredictParams } from '../runtime/runtime.js';

/** An error crossing the thread boundary (structured clone keeps no class): rebuilt as InferqError. */
export interface ErrorMessage {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

/** One fast-path item's outcome, as it crosses back to the host. */
export type FastResultMessage = { ok: true; output: unknown } | { ok: false; error: ErrorMessage };

/** What `inferq serve` gives each worker thread (worker-thread.ts) at start. */
export interface WorkerThreadInit {
  config: Config;
}

/** Messages from the host (worker-threads.ts) to a worker thread. */
export type FromHost =
  | { type: 'metrics'; id: number }
  | { type: 'stop'; abort: boolean }
  /** A fast-path batch (fast-lanes.ts) to run on this thread's warm runtime of `ref`. */
  | { type: 'predict'; id: number; ref: string; inputs: ModelInput[]; params: PredictParams };

/** Messages from a worker thread to its host. */
export type ToHost =
  | { type: 'ready'; models: string[]; unavailable: Record<string, string> }
  | { type: 'failed'; message: string }
  | { type: 'metrics'; id: number; metrics: MetricsJson }
  | { type: 'predicted'; id: number; results: FastResultMessage[] }
  | { type: 'predict-failed'; id: number; error: ErrorMessage }
  | { type: 'stopped' };

/** An error as it crosses to the host: an InferqError keeps its code, anything else is WORK_FAILED. */
export function errorMessage(err: unknown): ErrorMessage {
  if (isInferqError(err)) {
    return { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) };
  }
  return { code: 'INFERQ_WORK_FAILED', message: err instanceof Error ? err.message : String(err) };
}

/** The host's side of {@link errorMessage}. */
export function errorFromMessage(message: ErrorMessage): InferqError {
  const code = (message.code in errorCodes ? message.code : 'INFERQ_WORK_FAILED') as ErrorCode;
  return new InferqError(code, message.message, message.details ? { details: message.details } : {});
}
