import { afterEach, describe, expect, it } from 'vitest';
import { InferqError, isInferqError } from '../../src/errors/index.js';
import type { ModelInput, PredictParams, Runtime } from '../../src/runtime/runtime.js';

/** A batch and the params to run it with. */
export interface RuntimeWork {
  batch: ModelInput[];
  params?: PredictParams;
}

/**
 * What one runtime kind gives the contract. Every function builds afresh (an onnx runtime
 * transfers input buffers, so an input is used once); the contract loads and unloads the
 * runtimes it is given.
 */
export interface RuntimeContractSubject {
  /** A runtime of this kind, not loaded. */
  create(): Promise<Runtime>;
  /** An item `create()`'s runtime answers well, and quickly. */
  good(): Promise<ModelInput>;
  /** Work for `create()`'s runtime that runs far longer than the tests wait, and when to cancel it. */
  slow(): Promise<RuntimeWork>;
  cancelAfterMs: number;
  /**
   * A runtime (not loaded) with an item it must fail alone, one it answers, and what the failed
   * item's error must match (a client error: status 422).
   */
  badItem(): Promise<{ runtime: Runtime; good: ModelInput; bad: ModelInput; error: Record<string, unknown> }>;
  /**
   * A runtime (not loaded) whose model.yaml sets `timeoutMs`, work that outlives it, and how the
   * call ends: the whole batch rejects, or (a remote model, timed out request by request) each
   * item fails. `details` is the timeout error's details, exactly.
   */
  timed(): Promise<{
    runtime: Runtime;
    work: RuntimeWork;
    endsAs: 'rejection' | 'item failure';
    details: Record<string, unknown>;
  }>;
}

/** The error a promise rejects with (an InferqError), or a failed test. */
export async function rejection(promise: Promise<unknown>): Promise<InferqError> {
  try {
    await promise;
  } catch (err) {
    if (isInferqError(err)) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

/** The behaviour every Runtime must have (hono's common.case style): onnx, js and http. */
export function runRuntimeContract(name: string, subject: RuntimeContractSubject): void {
  describe(`Runtime contract: ${name}`, () => {
    const loaded: Runtime[] = [];
    const load = async (runtime: Runtime) => {
      loaded.push(runtime);
      await runtime.load();
      return runtime;
    };
    afterEach(async () => {
      for (const runtime of loaded.splice(0)) await runtime.unload();
    });

    it('refuses predict before load', async () => {
      const runtime = await subject.create();
      expect((await rejection(runtime.predict([await subject.good()]))).code).toBe('INFERQ_MODEL_NOT_LOADED');
    });

    it('answers an empty batch with no results', async () => {
      const runtime = await load(await subject.create());
      expect(await runtime.predict([])).toEqual([]);
    });

    it('refuses predict after unload; unload is safe twice', async () => {
      const runtime = await load(await subject.create());
      expect(await runtime.predict([await subject.good()])).toMatchObject([{ ok: true }]);
      await runtime.unload();
      await runtime.unload();
      expect((await rejection(runtime.predict([await subject.good()]))).code).toBe('INFERQ_MODEL_NOT_LOADED');
    });

    it('fails a bad item alone, as a client error; its batch-mates succeed', async () => {
      const { runtime, good, bad, error } = await subject.badItem();
      await load(runtime);
      const [first, second] = await runtime.predict([bad, good]);
      expect(first).toMatchObject({ ok: false, error: { status: 422, ...error } });
      expect(first?.ok === false && first.error).toBeInstanceOf(InferqError);
      expect(second).toMatchObject({ ok: true });
    });

    it('is cancelled by its signal, and runs the next batch', async () => {
      const runtime = await load(await subject.create());
      const { batch, params } = await subject.slow();
      const controller = new AbortController();
      const pending = runtime.predict(batch, params, { signal: controller.signal });
      setTimeout(() => controller.abort(), subject.cancelAfterMs);
      expect((await rejection(pending)).code).toBe('INFERQ_CANCELLED');
      expect(await runtime.predict([await subject.good()])).toMatchObject([{ ok: true }]);
    });

    it('refuses a batch whose signal is already aborted, and runs the next batch', async () => {
      const runtime = await load(await subject.create());
      const { batch, params } = await subject.slow();
      const pending = runtime.predict(batch, params, { signal: AbortSignal.abort() });
      expect((await rejection(pending)).code).toBe('INFERQ_CANCELLED');
      expect(await runtime.predict([await subject.good()])).toMatchObject([{ ok: true }]);
    });

    it('stops a batch that outlives timeoutMs with INFERQ_WORK_TIMEOUT, and runs the next one', async () => {
      const { runtime, work, endsAs, details } = await subject.timed();
      await load(runtime);
      const outcome = runtime.predict(work.batch, work.params);
      if (endsAs === 'rejection') {
        const err = await rejection(outcome);
        expect(err.code).toBe('INFERQ_WORK_TIMEOUT');
        expect(err.details).toEqual(details);
      } else {
        const results = await outcome;
        expect(results).toHaveLength(work.batch.length);
        for (const result of results) {
          expect(result).toMatchObject({ ok: false, error: { code: 'INFERQ_WORK_TIMEOUT' } });
          expect(result.ok === false && result.error.details).toEqual(details);
        }
      }
      expect(await runtime.predict([await subject.good()])).toMatchObject([{ ok: true }]);
    });
  });
}
