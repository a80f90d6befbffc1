// sharp must be loaded by the main thread before worker threads that use it start: on
// glibc Linux its shared libraries must outlive every thread (sharp's documentation).
import 'sharp';
import { availableParallelism } from 'node:os';
import { InferqError } from '../errors/index.js';
import type { ResolvedModel } from './model-repository.js';
import type { SessionThreadInit } from './onnx-messages.js';
import type {
  ModelInput,
  PredictOptions,
  PredictParams,
  PredictResult,
  Runtime,
  RuntimeOptions,
} from './runtime.js';
import { type SessionReady, SessionThread } from './session-thread.js';
import { cancelled, isStopError, stopSignals } from './stop-signals.js';

/**
 * Batches a thread holds at once: one with the session, the next being decoded meanwhile, so
 * the session does not wait for the main thread or for decoding between batches.
 */
const batchesPerThread = 2;

const noop = (): void => {};

/**
 * Runs an ONNX model in `instances` worker threads (default 1), one session each, with
 * `threads` intra-op threads per session (default 1; `RuntimeOptions.threads` overrides).
 * Each thread holds up to two batches: one running, the next one decoding its inputs meanwhile;
 * further batches wait here, in order. `timeoutMs` measures a batch from when it gets the
 * session, not its wait. The main event loop only posts messages: decoding, pre/post-processing
 * and `session.run` all happen in the thread.
 *
 * `timeoutMs` from model.yaml bounds each batch, and an `AbortSignal` can end it early: the
 * caller is answered at once (`INFERQ_WORK_TIMEOUT` / `INFERQ_CANCELLED`) and a fresh thread
 * takes the slot. A running `session.run` cannot be interrupted (nor its thread safely
 * terminated), so the old thread finishes that run in the background, its result is
 * dropped, and it exits: until then the host does that work twice.
 *
 * `unload()` drains: batches already sent complete before the threads exit.
 */
export class OnnxRuntime implements Runtime {
  private threads: SessionThread[] = [];
  /** Batches sent to each thread and not yet answered (at most {@link batchesPerThread}). */
  private inFlight: number[] = [];
  /** Batches waiting for a free thread, first come first served. */
  private waiting: { take: (slot: number) => void; refuse: (err: Error) => void }[] = [];
  /** Threads replaced after a timeout or abort, still finishing their last run. */
  private readonly retiring = new Set<Promise<void>>();
  private loaded = false;
  executionProvider: SessionReady | undefined;

  constructor(
    readonly model: ResolvedModel,
    private readonly options: RuntimeOptions = {},
  ) {}

  async load(): Promise<void> {
    if (this.loaded) return;
    const count = this.model.spec.instances ?? 1;
    const threads = Array.from({ length: count }, () => new SessionThread(this.init()));
    try {
      // Every thread opens its session on the same providers, so they agree.
      [this.executionProvider] = await Promise.all(threads.map((t) => t.ready));
    } catch (err) {
      await Promise.all(threads.map((t) => t.retire()));
      throw err instanceof InferqError
        ? err
        : new InferqError('INFERQ_MODEL_LOAD_FAILED', `${this.model.ref}: ${(err as Error).message}`, {
            cause: err,
          });
    }
    this.threads = threads;
    this.inFlight = threads.map(() => 0);
    this.loaded = true;
  }

  async predict(
    batch: readonly ModelInput[],
    params: PredictParams = {},
    options: PredictOptions = {},
  ): Promise<PredictResult[]> {
    if (!this.loaded) {
      throw new InferqError('INFERQ_MODEL_NOT_LOADED', `${this.model.ref} is not loaded`);
    }
    if (batch.length === 0) return [];
    if (options.signal?.aborted) throw cancelled(this.model.ref);
    const slot = await this.acquire(options.signal);
    try {
      let thread = this.threads[slot];
      if (thread === undefined)
        throw new InferqError('INFERQ_MODEL_NOT_LOADED', `${this.model.ref} was unloaded`);
      if (!thread.alive) thread = this.replace(slot);
      await thread.ready;
      const sent = thread.send(batch, params, options.keepInputs);
      // If the timeout or the abort wins a race below, the call rejects later on its own.
      sent.result.catch(() => {});
      // Until it has the session, the batch waits behind the thread's other one: an abort then
      // just drops it (the thread stays), and its timeout has not started.
      const waiting = stopSignals(this.model.ref, undefined, options.signal);
      try {
        await Promise.race([sent.started, sent.result.then(noop, noop), waiting.promise]);
      } catch (err) {
        thread.cancel(sent.id);
        throw err;
      } finally {
        waiting.cancel();
      }
      options.onStart?.();
      const { promise: stopped, cancel } = stopSignals(
        this.model.ref,
        this.model.spec.timeoutMs,
        options.signal,
      );
      try {
        return await Promise.race([sent.result, stopped]);
      } catch (err) {
        if (isStopError(err) && this.threads[slot] === thread) this.replace(slot);
        throw err;
      } finally {
        cancel();
      }
    } finally {
      this.release(slot);
    }
  }

  async unload(): Promise<void> {
    this.loaded = false;
    const threads = this.threads;
    this.threads = [];
    this.inFlight = [];
    const notLoaded = new InferqError('INFERQ_MODEL_NOT_LOADED', `${this.model.ref} was unloaded`);
    for (const waiter of this.waiting.splice(0)) waiter.refuse(notLoaded);
    await Promise.all([...threads.map((t) => t.retire()), ...this.retiring]);
  }

  private init(): SessionThreadInit {
    const threads = this.options.threads ?? this.model.spec.threads ?? 1;
    return {
      model: this.model,
      executionProviders: [...(this.model.spec.executionProviders ?? ['cpu'])],
      fallback: this.model.spec.fallback ?? 'none',
      intraOpNumThreads: Math.min(threads, availableParallelism()),
    };
  }

  /**
   * The slot of the least busy thread that can take a batch, counted in; waits (abortably) when
   * every thread already holds {@link batchesPerThread}.
   */
  private acquire(signal: AbortSignal | undefined): Promise<number> {
    let best = -1;
    for (const [slot, count] of this.inFlight.entries()) {
      if (count < batchesPerThread && (best === -1 || count < this.inFlight[best]!)) best = slot;
    }
    if (best !== -1) {
      this.inFlight[best]! += 1;
      return Promise.resolve(best);
    }
    return new Promise<number>((resolve, reject) => {
      const onAbort = () => {
        this.waiting = this.waiting.filter((w) => w !== waiter);
        reject(cancelled(this.model.ref));
      };
      const waiter = {
        take: (slot: number) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(slot);
        },
        refuse: (err: Error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  /** Hands the slot's place to the next waiting batch, or frees it. */
  private release(slot: number): void {
    if (slot >= this.inFlight.length) return; // unloaded meanwhile
    const next = this.waiting.shift();
    if (next) next.take(slot);
    else this.inFlight[slot]! -= 1;
  }

  /** Puts a fresh thread in `slot`; the old one (busy or dead) is retired. */
  private replace(slot: number): SessionThread {
    const old = this.threads[slot]!;
    const fresh = new SessionThread(this.init());
    this.threads[slot] = fresh;
    const exited = old.retire().finally(() => this.retiring.delete(exited));
    this.retiring.add(exited);
    return fresh;
  }
}
