import type { InferqError } from '../errors/index.js';
import type { ResolvedModel } from './model-repository.js';

/** Decoded pixels, row-major, interleaved channels, 8 bits per sample. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  /** 1 (grey), 3 (RGB) or 4 (RGBA). */
  channels: number;
}

/**
 * One item of a batch. `bytes` is what a task submitted (an image file, text, JSON…);
 * `image` carries pixels already decoded in-process (OCR crops handed from one pipeline step
 * to the next, without a PNG round trip); `value` is structured data (json / tensor inputs).
 */
export type ModelInput = { bytes: Uint8Array; mediaType?: string } | { image: RawImage } | { value: unknown };

/** Outcome of one item: one item's failure never fails its batch-mates. */
export type PredictResult = { ok: true; output: unknown } | { ok: false; error: InferqError };

/** Params of a predict call, shared by the whole batch (the batcher groups jobs by params hash). */
export type PredictParams = Readonly<Record<string, unknown>>;

/** Per-call options of {@link Runtime.predict}. */
export interface PredictOptions {
  /** Aborting rejects the call with `INFERQ_CANCELLED` (an onnx runtime recycles its busy thread). */
  signal?: AbortSignal;
  /**
   * Copy input buffers to a worker thread instead of transferring them, so the caller's
   * arrays stay usable (e.g. the same OCR crops go to `ocr-cls` and then `ocr-rec`).
   */
  keepInputs?: boolean;
  /**
   * Called when the batch starts running, after any wait for a free instance: the caller's
   * compute time starts here, its batch wait ends here.
   */
  onStart?: () => void;
}

/**
 * A loaded model. `predict` resolves one result per input, in order; it rejects only when
 * the batch as a whole could not run (the runtime crashed, timed out, was cancelled or
 * unloaded), and then every item may be retried.
 *
 * Ownership: an onnx runtime transfers the `ArrayBuffer`s behind `bytes` and `image.data` to
 * its worker thread instead of copying them, so after `predict` those arrays may be detached
 * (length 0). Pass `keepInputs: true` (or a copy) when the caller needs them again.
 */
export interface Runtime {
  readonly model: ResolvedModel;
  /**
   * After `load`, the onnxruntime execution provider the model runs on (`cpu`, `cuda:0`…), and
   * `fellBack`, why it is not model.yaml's first one. Absent for runtimes without providers.
   */
  readonly executionProvider?: { provider: string; fellBack?: string };
  load(): Promise<void>;
  predict(
    batch: readonly ModelInput[],
    params?: PredictParams,
    options?: PredictOptions,
  ): Promise<PredictResult[]>;
  /** Frees the model (threads, sessions, sockets). Safe to call twice. */
  unload(): Promise<void>;
}

/** Host-level settings (from config, not from model.yaml) that shape how runtimes run. */
export interface RuntimeOptions {
  /** Overrides `threads` of every model (intra-op threads per onnx session). */
  threads?: number;
}
