import type { ModelInput, PredictParams, PredictResult } from '../runtime/runtime.js';

/**
 * The fast path as the API sees it (implemented by `FastLanes` in src/worker/fast-lanes.ts,
 * wired by `inferq serve`): one input to a warm worker instance, batched with other fast
 * requests of that model, answered now, with no task written anywhere.
 */
export interface FastPath {
  /** Whether a worker of this process serves `ref` (`name@version`) on the fast path. */
  serves(ref: string): boolean;
  /**
   * Resolves with the item's result (a failed item is a result); rejects with
   * INFERQ_FAST_PATH_BUSY (queue full), INFERQ_CANCELLED (`signal` aborted while queued),
   * INFERQ_FAST_PATH_UNAVAILABLE or the batch's own failure.
   */
  infer(
    ref: string,
    input: ModelInput,
    params: PredictParams,
    signal?: AbortSignal,
    options?: FastCallOptions,
  ): Promise<PredictResult>;
}

/** How a caller wants its fast call run. */
export interface FastCallOptions {
  /**
   * Whether a call whose remote (ZeroMQ) worker was lost mid-call may go to another worker
   * (default true; the model may then run twice for it). False: at most once to the model, the
   * call fails with INFERQ_FAST_PATH_WORKER_LOST instead. Calls within a process are never
   * sent twice.
   */
  resend?: boolean;
}
