import type { ExecutionProvider } from '../core/model-spec.js';
import { InferqError, isErrorCode } from '../errors/index.js';
import type { ResolvedModel } from './model-repository.js';
import type { ModelInput, PredictParams, PredictResult } from './runtime.js';

/** `workerData` of an onnx session thread. */
export interface SessionThreadInit {
  model: ResolvedModel;
  /** model.yaml's `executionProviders`, in order of preference. */
  executionProviders: ExecutionProvider[];
  /** `cpu`: when the providers cannot start, open the session on the CPU instead. */
  fallback: 'cpu' | 'none';
  intraOpNumThreads: number;
}

/** Main thread → session thread: run this batch. */
export interface PredictRequest {
  type: 'predict';
  id: number;
  batch: ModelInput[];
  params: PredictParams;
}

/** Main thread → session thread: drop this batch if it has not started running. */
export interface CancelRequest {
  type: 'cancel';
  id: number;
}

export type ThreadRequest = PredictRequest | CancelRequest;

/** An error as it crosses the thread boundary (classes do not survive structured cloning). */
export interface SerializedError {
  code: string;
  message: string;
  status: number;
  details?: Record<string, unknown>;
}

/** A {@link PredictResult} as it crosses the thread boundary. */
export type SerializedResult = { ok: true; output: unknown } | { ok: false; error: SerializedError };

/** Session thread → main thread: loaded, could not load, or a batch's answer. */
export type ThreadMessage =
  /** `provider`: the one the session runs on; `fellBack`: why it is not the first one listed. */
  | { type: 'ready'; provider: string; fellBack?: string }
  | { type: 'load-failed'; error: SerializedError }
  /** The batch has the session: its run starts now (its decoding may have gone before). */
  | { type: 'started'; id: number }
  | { type: 'results'; id: number; results: SerializedResult[] }
  | { type: 'failed'; id: number; error: SerializedError };

/** Any thrown value as a {@link SerializedError} (unknown errors become `INFERQ_WORK_FAILED`). */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof InferqError) {
    return {
      code: err.code,
      message: err.message,
      status: err.status,
      ...(err.details ? { details: err.details } : {}),
    };
  }
  return {
    code: 'INFERQ_WORK_FAILED',
    message: err instanceof Error ? err.message : String(err),
    status: 500,
  };
}

/** Back to an `InferqError`, keeping the code, status and details. */
export function deserializeError(error: SerializedError): InferqError {
  const code = isErrorCode(error.code) ? error.code : 'INFERQ_WORK_FAILED';
  return new InferqError(code, error.message, {
    status: error.status,
    ...(error.details ? { details: error.details } : {}),
  });
}

/** Results with their errors made cloneable. */
export function serializeResults(results: readonly PredictResult[]): SerializedResult[] {
  return results.map((r) => (r.ok ? r : { ok: false, error: serializeError(r.error) }));
}

/** Results with their errors turned back into `InferqError`s. */
export function deserializeResults(results: readonly SerializedResult[]): PredictResult[] {
  return results.map((r) => (r.ok ? r : { ok: false, error: deserializeError(r.error) }));
}

/**
 * Readies a batch for `postMessage` with its pixel and byte buffers transferred rather than
 * cloned. A view that does not own its whole buffer (a slice of a larger file, a small
 * `Buffer` from Node's shared pool) is first copied into a buffer of its own: transferring
 * the parent would detach bytes that belong to someone else. With `keepInputs` every
 * buffer is copied, leaving the caller's arrays intact.
 *
 * Empty views are never transferred: Node silently drops a message whose transfer list holds
 * an already-detached buffer (the caller would wait forever), and a detached view looks empty.
 */
export function prepareTransfer(
  batch: readonly ModelInput[],
  keepInputs = false,
): { batch: ModelInput[]; transfer: ArrayBuffer[] } {
  const transfer = new Set<ArrayBuffer>();
  const own = (view: Uint8Array): Uint8Array => {
    if (view.byteLength === 0) return new Uint8Array(0);
    const buffer = view.buffer;
    const whole = view.byteOffset === 0 && view.byteLength === buffer.byteLength;
    if (!keepInputs && buffer instanceof ArrayBuffer && whole && !transfer.has(buffer)) {
      transfer.add(buffer);
      return view;
    }
    const copy = new Uint8Array(view);
    transfer.add(copy.buffer);
    return copy;
  };
  const prepared = batch.map((input): ModelInput => {
    if ('bytes' in input) return { ...input, bytes: own(input.bytes) };
    if ('image' in input) return { image: { ...input.image, data: own(input.image.data) } };
    return input;
  });
  return { batch: prepared, transfer: [...transfer] };
}

/** ArrayBuffers fully owned by typed arrays found (shallowly) in results, to send back without copies. */
export function resultTransferables(results: readonly SerializedResult[]): ArrayBuffer[] {
  const found = new Set<ArrayBuffer>();
  const visit = (value: unknown, depth: number): void => {
    if (depth > 3 || value === null || typeof value !== 'object') return;
    if (ArrayBuffer.isView(value)) {
      const { buffer } = value;
      if (buffer instanceof ArrayBuffer && value.byteOffset === 0 && value.byteLength === buffer.byteLength) {
        found.add(buffer);
      }
      return;
    }
    for (const child of Object.values(value)) visit(child, depth + 1);
  };
  for (const r of results) if (r.ok) visit(r.output, 0);
  return [...found];
}
