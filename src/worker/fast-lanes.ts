import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { paramsHash } from '../core/hash.js';
import type { ModelSpec } from '../core/model-spec.js';
import { InferqError, isInferqError } from '../errors/index.js';
import type { ModelInput, PredictParams, PredictResult } from '../runtime/runtime.js';
import { chunkByPreferredSizes, collectBatch } from './collect-batch.js';
import { runApartOnFailure } from './run-apart-on-failure.js';

/** Runs one batch of one model on a warm instance (a worker thread of `serve`). */
export type RunFastBatch = (
  ref: string,
  inputs: ModelInput[],
  params: PredictParams,
) => Promise<PredictResult[]>;

export interface FastLanesOptions {
  /** The models served, `name@version` with their spec (batching, instances). */
  models: ReadonlyArray<{ ref: string; spec: ModelSpec }>;
  run: RunFastBatch;
  /** Copies of each model that run at once (the worker threads that load it). */
  copies: number;
  /** Requests a model may hold waiting; one more is refused (INFERQ_FAST_PATH_BUSY). */
  queueLimit: number;
  registry?: Registry;
}

interface Item {
  input: ModelInput;
  params: PredictParams;
  key: string;
  settle: (result: PredictResult) => void;
  fail: (err: unknown) => void;
  /** Set once it left the queue for a batch: a cancel can no longer take it back. */
  taken: boolean;
}

/** The fast path's metrics: the only thing it records (no task, no blob, no store write). */
class FastMetrics {
  readonly requests: Counter<'model' | 'outcome'>;
  readonly depth: Gauge<'model'>;
  readonly batchSize: Histogram<'model'>;
  constructor(registry: Registry | undefined) {
    const registers = registry ? [registry] : [];
    this.requests = new Counter({
      name: 'inferq_fast_requests_total',
      help: 'Fast-path requests by outcome (succeeded, failed, cancelled, refused)',
      labelNames: ['model', 'outcome'],
      registers,
    });
    this.depth = new Gauge({
      name: 'inferq_fast_queue_depth',
      help: 'Fast-path requests waiting for a batch, per model',
      labelNames: ['model'],
      registers,
    });
    this.batchSize = new Histogram({
      name: 'inferq_fast_batch_size',
      help: 'Items per fast-path model run',
      labelNames: ['model'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers,
    });
  }
}

/**
 * One model's fast lane: a bounded in-memory queue and the loops that batch it. Batches form by
 * the durable path's rule ({@link collectBatch}: `maxBatchSize`, `maxDelayMs`), are split by
 * `preferredBatchSizes` and by params, and each run's results go straight back to the callers.
 */
class FastLane {
  private readonly queue: Item[] = [];
  /** Idle loops waiting in {@link take} for a first item. */
  private readonly waiters = new Set<() => void>();
  private running = true;
  /** Batches of this model running now (their window decides whether the next one waits). */
  private runningChunks = 0;
  /** Batching windows open now, each waiting for mates while another batch runs. */
  private readonly openWindows = new Set<AbortController>();
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly ref: string,
    private readonly spec: ModelSpec,
    private readonly options: FastLanesOptions,
    private readonly metrics: FastMetrics,
  ) {
    // Two loops per copy, as the lease loops: while one batch runs, the next one forms.
    const loops = Math.max(1, (spec.instances ?? 1) * options.copies * 2);
    for (let i = 0; i < loops; i++) this.loops.push(this.loop());
  }

  enqueue(input: ModelInput, params: PredictParams, signal?: AbortSignal): Promise<PredictResult> {
    if (this.queue.length >= this.options.queueLimit) {
      this.metrics.requests.inc({ model: this.ref, outcome: 'refused' });
      throw new InferqError(
        'INFERQ_FAST_PATH_BUSY',
        `${this.ref} has ${this.queue.length} fast-path requests waiting (workers.fastQueueLimit); retry after a moment`,
        { details: { model: this.ref, queued: this.queue.length, retryAfterMs: 1_000 } },
      );
    }
    return new Promise<PredictResult>((resolve, reject) => {
      const onAbort = () => {
        if (item.taken) return; // in a batch already: its result is dropped by the caller
        const at = this.queue.indexOf(item);
        if (at >= 0) this.queue.splice(at, 1);
        this.metrics.depth.set({ model: this.ref }, this.queue.length);
        this.metrics.requests.inc({ model: this.ref, outcome: 'cancelled' });
        reject(new InferqError('INFERQ_CANCELLED', 'the caller went away before its request ran'));
      };
      const done = () => signal?.removeEventListener('abort', onAbort);
      const item: Item = {
        input,
        params,
        key: paramsKey(params),
        taken: false,
        settle: (result) => {
          done();
          resolve(result);
        },
        fail: (err) => {
          done();
          reject(err);
        },
      };
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(item);
      this.metrics.depth.set({ model: this.ref }, this.queue.length);
      this.wake(false);
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake(true);
    await Promise.all(this.loops);
    for (const item of this.queue.splice(0)) {
      item.fail(new InferqError('INFERQ_FAST_PATH_UNAVAILABLE', `${this.ref}: the server is stopping`));
    }
  }

  /** {@link TakeItems} over the in-memory queue: what is there now, or wait for a first item. */
  private take = async (max: number, waitMs: number): Promise<Item[]> => {
    if (this.queue.length === 0 && waitMs > 0 && this.running) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, waitMs);
        this.waiters.add(wake);
      });
    }
    const items = this.queue.splice(0, max);
    for (const item of items) item.taken = true;
    if (items.length > 0) this.metrics.depth.set({ model: this.ref }, this.queue.length);
    return items;
  };

  /** Wakes one idle loop (a push) or all of them (stop). */
  private wake(all: boolean): void {
    for (const wake of [...this.waiters]) {
      wake();
      if (!all) return;
    }
  }

  private async loop(): Promise<void> {
    const batching = this.spec.batching;
    // A loop's window signal is replaced only once a batch's end has closed it: most turns
    // (a lone request, an idle wait) never open the window.
    let window = new AbortController();
    while (this.running) {
      if (window.signal.aborted) window = new AbortController();
      const batch = await collectBatch(this.take, {
        max: batching?.maxBatchSize ?? 1,
        maxDelayMs: batching?.maxDelayMs ?? 0,
        idleWaitMs: 1_000,
        // The window adds its length to a lone request's latency: open it only while another
        // batch of this model runs (the model is busy, so mates arrive meanwhile)...
        windowPaysOff: () => {
          if (this.runningChunks === 0) return false;
          this.openWindows.add(window);
          return true;
        },
        // ...and close it when a batch of the model ends: from then on waiting would keep the
        // batch from a model that can take it.
        signal: window.signal,
      });
      this.openWindows.delete(window);
      if (batch.length === 0) continue;
      const groups = new Map<string, Item[]>();
      for (const item of batch) groups.set(item.key, [...(groups.get(item.key) ?? []), item]);
      // The batch's chunks go to the model together (a runtime queues what it cannot run yet:
      // an onnx thread holds two), not each after the previous one's answers came back.
      const chunks = [...groups.values()].flatMap((group) =>
        chunkByPreferredSizes(group, batching?.preferredBatchSizes),
      );
      await Promise.all(chunks.map((chunk) => this.runChunk(chunk)));
    }
  }

  /**
   * Runs one chunk and settles each of its items. A chunk the runtime refuses as a whole is run
   * again one item at a time (the durable path's rule, {@link runApartOnFailure}), so one bad
   * input fails only its own caller; a run stopped as such (timed out, the thread lost) fails
   * every item of it with that error.
   */
  private async runChunk(chunk: Item[]): Promise<void> {
    this.metrics.batchSize.observe({ model: this.ref }, chunk.length);
    this.runningChunks++;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      this.runningChunks--;
      for (const window of this.openWindows) window.abort(windowClosed);
      this.openWindows.clear();
    };
    try {
      const settled = await runApartOnFailure<Item, PredictResult | { thrown: unknown }>(
        chunk,
        async (items) => {
          const results = await this.options.run(
            this.ref,
            items.map((i) => i.input),
            items[0]!.params,
          );
          return items.map((_, k) => results[k] ?? noResult());
        },
        { splits: mayBeOneItems, failure: (thrown) => ({ thrown }) },
      );
      // The windows close before the callers are answered: the next batch goes to the model
      // first, not after this one's answers have been encoded and written.
      end();
      for (const [k, item] of chunk.entries()) {
        const outcome = settled[k]!;
        const ok = 'ok' in outcome && outcome.ok;
        this.metrics.requests.inc({ model: this.ref, outcome: ok ? 'succeeded' : 'failed' });
        if ('thrown' in outcome) item.fail(outcome.thrown);
        else item.settle(outcome);
      }
    } finally {
      end();
    }
  }
}

/**
 * Failures of a fast run that are the run's own, not an item's: running the items again alone
 * would fail them again (a thread lost or a model not loaded) or run them after their time.
 */
const runFailures = new Set<string>([
  'INFERQ_WORK_TIMEOUT',
  'INFERQ_CANCELLED',
  'INFERQ_WORKER_LOST',
  'INFERQ_FAST_PATH_UNAVAILABLE',
  'INFERQ_MODEL_NOT_LOADED',
]);
/**
 * The reason a batching window is closed with (a batch of the model ended): one value, not the
 * DOMException with a stack that `abort()` builds for each.
 */
const windowClosed = new Error('a batch of the model ended: the batching window closes');
const noResult = (): PredictResult => ({
  ok: false,
  error: new InferqError('INFERQ_WORK_FAILED', 'the runtime returned no result for this item'),
});

/** Groups items by params: no params (most calls) share one key without hashing `{}` for each. */
const paramsKey = (params: PredictParams): string =>
  Object.keys(params).length === 0 ? '' : paramsHash(params);

const mayBeOneItems = (err: unknown): boolean => !(isInferqError(err) && runFailures.has(err.code));

/**
 * The fast path (DESIGN.md "fast path"): requests that must answer now and need no durable
 * record go to a warm model instance through a bounded per-model queue, are batched with other
 * fast requests of that model, and are answered on the caller's connection. Nothing is written
 * to the task store or the blob store; metrics are the only record.
 *
 * A caller that leaves while its request waits takes it out of the queue (its signal aborts);
 * once in a running batch it runs with its batch-mates and its result is dropped.
 */
export class FastLanes {
  private readonly lanes = new Map<string, FastLane>();

  constructor(options: FastLanesOptions) {
    const metrics = new FastMetrics(options.registry);
    for (const { ref, spec } of options.models) {
      this.lanes.set(ref, new FastLane(ref, spec, options, metrics));
    }
  }

  /** Whether `ref` (`name@version`) is served here. */
  serves(ref: string): boolean {
    return this.lanes.has(ref);
  }

  /**
   * Runs one input of `ref` now. Resolves with the item's result (a failure of the item is a
   * result, not a rejection); rejects when the queue is full (INFERQ_FAST_PATH_BUSY), the caller
   * left (INFERQ_CANCELLED), the model is not served here, or its whole batch could not run.
   */
  async infer(
    ref: string,
    input: ModelInput,
    params: PredictParams,
    signal?: AbortSignal,
  ): Promise<PredictResult> {
    const lane = this.lanes.get(ref);
    if (lane === undefined) {
      throw new InferqError(
        'INFERQ_FAST_PATH_UNAVAILABLE',
        `no worker of this process serves ${ref} on the fast path; use durable predict or a server with workers`,
        { details: { model: ref } },
      );
    }
    return lane.enqueue(input, params, signal);
  }

  /** Fails what still waits and stops the loops (after the batches in flight). */
  async stop(): Promise<void> {
    await Promise.all([...this.lanes.values()].map((lane) => lane.stop()));
  }
}
