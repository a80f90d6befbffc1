import type { MetricsJson } from '../api/app-deps.js';
import type { Config } from '../config/schema.js';
import type { ErrorMessage } from '../errors/error-message.js';
import type { ModelInput, PredictParams } from '../runtime/runtime.js';

export { type ErrorMessage, errorFromMessage, errorMessage } from '../errors/error-message.js';

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
