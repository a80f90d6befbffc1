import { pathToFileURL } from 'node:url';
import { InferqError, isErrorCode } from '../errors/index.js';
import type { ResolvedModel } from './model-repository.js';
import type { ModelInput, PredictOptions, PredictParams, PredictResult, Runtime } from './runtime.js';
import { cancelled, stopSignals } from './stop-signals.js';

/** What a JS model module receives besides its inputs. */
export interface JsModelContext {
  model: ResolvedModel;
  /** Aborted when the batch is given up (cancelled, timed out); only set during `predict`. */
  signal?: AbortSignal;
}

/**
 * The contract of a `runtime: js` module (model.yaml `artifact: ./model.js`):
 * - `load(context)` (optional) prepares the model once;
 * - `predict(inputs, params, context)` returns one entry per input, in order. An entry that
 *   is an `Error` is that item's failure; an `Error` carrying an inferq `code` property
 *   (e.g. `INFERQ_VALIDATION_FAILED`) keeps that code. Throwing fails the whole batch.
 * - `unload(context)` (optional) frees what `load` took.
 */
export interface JsModelModule {
  load?(context: JsModelContext): unknown;
  predict(inputs: readonly ModelInput[], params: PredictParams, context: JsModelContext): unknown;
  unload?(context: JsModelContext): unknown;
}

/**
 * Runs a JS module in the calling thread. Meant for I/O-bound or light models (echo, a
 * rules engine, a client of another service); CPU-heavy work belongs in an onnx processor
 * or a module that starts its own worker thread.
 */
export class JsRuntime implements Runtime {
  private module: JsModelModule | undefined;

  constructor(readonly model: ResolvedModel) {}

  async load(): Promise<void> {
    if (this.module) return;
    let module: Partial<JsModelModule>;
    try {
      module = (await import(pathToFileURL(this.model.artifactPath!).href)) as Partial<JsModelModule>;
    } catch (cause) {
      throw new InferqError(
        'INFERQ_MODEL_LOAD_FAILED',
        `${this.model.ref}: cannot import ${this.model.artifactPath}: ${(cause as Error).message}`,
        { cause },
      );
    }
    if (typeof module.predict !== 'function') {
      throw new InferqError(
        'INFERQ_MODEL_LOAD_FAILED',
        `${this.model.artifactPath} does not export predict()`,
      );
    }
    try {
      await module.load?.({ model: this.model });
    } catch (cause) {
      throw new InferqError(
        'INFERQ_MODEL_LOAD_FAILED',
        `${this.model.ref}: load() failed: ${(cause as Error).message}`,
        {
          cause,
        },
      );
    }
    this.module = module as JsModelModule;
  }

  async predict(
    batch: readonly ModelInput[],
    params: PredictParams = {},
    options: PredictOptions = {},
  ): Promise<PredictResult[]> {
    const module = this.module;
    if (!module) throw new InferqError('INFERQ_MODEL_NOT_LOADED', `${this.model.ref} is not loaded`);
    if (batch.length === 0) return [];
    if (options.signal?.aborted) throw cancelled(this.model.ref);
    // The module's own signal also fires on timeout, so it can stop work nobody waits for.
    const stop = new AbortController();
    const context: JsModelContext = { model: this.model, signal: stop.signal };
    const { promise: stopped, cancel } = stopSignals(
      this.model.ref,
      this.model.spec.timeoutMs,
      options.signal,
    );
    let outputs: unknown;
    try {
      outputs = await Promise.race([
        Promise.resolve().then(() => module.predict(batch, params, context)),
        stopped,
      ]);
    } catch (err) {
      stop.abort(err);
      throw toInferqError(err);
    } finally {
      cancel();
    }
    if (!Array.isArray(outputs) || outputs.length !== batch.length) {
      throw new InferqError(
        'INFERQ_WORK_FAILED',
        `${this.model.ref}: predict() must return an array of ${batch.length} entries`,
      );
    }
    return outputs.map(
      (output): PredictResult =>
        output instanceof Error ? { ok: false, error: toInferqError(output) } : { ok: true, output },
    );
  }

  async unload(): Promise<void> {
    const module = this.module;
    this.module = undefined;
    await module?.unload?.({ model: this.model });
  }
}

function toInferqError(err: unknown): InferqError {
  if (err instanceof InferqError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return new InferqError(isErrorCode(code) ? code : 'INFERQ_WORK_FAILED', message, { cause: err });
}
