import { InferqError } from '../errors/index.js';
import type { ResolvedModel } from './model-repository.js';
import type { ModelInput, PredictParams, PredictResult } from './runtime.js';

/** Typed data of an ONNX tensor (what `onnxruntime-node` takes and gives, minus the class). */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** A tensor as plain data, so processors and their tests never need onnxruntime itself. */
export interface Tensor {
  type: string;
  data: TensorData;
  dims: readonly number[];
}

/** One ONNX session, as a processor sees it. */
export interface OnnxSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>>;
}

/**
 * What an onnx model does around its session: inputs → tensors → session runs → results. It
 * decides how to group the batch (same-size images in one run, crops padded to one width…)
 * and runs inside the model's worker thread, so its CPU work never touches the main loop.
 */
export interface OnnxProcessor {
  predict(
    batch: readonly ModelInput[],
    params: PredictParams,
    session: OnnxSession,
  ): Promise<PredictResult[]>;
}

/** Export of a processor module (`processor: ./my-processor.js` in model.yaml). */
export type CreateOnnxProcessor = (model: ResolvedModel) => OnnxProcessor | Promise<OnnxProcessor>;

/**
 * Runs `work` on every item and collects one result each: a thrown `InferqError` is that
 * item's failure; anything else is an unexpected failure of that item only.
 */
export async function settleEach<T>(
  items: readonly T[],
  work: (item: T, index: number) => Promise<unknown>,
): Promise<PredictResult[]> {
  const results: PredictResult[] = [];
  for (const [index, item] of items.entries()) {
    try {
      results.push({ ok: true, output: await work(item, index) });
    } catch (err) {
      results.push({ ok: false, error: asItemError(err) });
    }
  }
  return results;
}

/** Wraps whatever an item threw as an `InferqError` (unexpected ones become `INFERQ_WORK_FAILED`). */
export function asItemError(err: unknown): InferqError {
  if (err instanceof InferqError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new InferqError('INFERQ_WORK_FAILED', message, { cause: err });
}
