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
  infer(ref: string, input: ModelInput, params: PredictParams, signal?: AbortSignal): Promise<PredictResult>;
}
