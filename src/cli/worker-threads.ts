import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { MetricsJson } from '../api/app-deps.js';
import type { Config } from '../config/schema.js';
import { InferqError } from '../errors/index.js';
import type { ModelInput, PredictParams, PredictResult } from '../runtime/runtime.js';
import { threadEntry } from '../runtime/thread-entry.js';
import {
  errorFromMessage,
  type FromHost,
  type ToHost,
  type WorkerThreadInit,
} from './worker-thread-messages.js';

const entry = threadEntry(import.meta.url, 'worker-thread');

/** A thread that died on its own is replaced after this long (not at once: it may die on start). */
const restartDelayMs = 1_000;
/** A thread that does not answer a metrics request in time is left out of that scrape. */
const metricsTimeoutMs = 2_000;

type Ready = Extract<ToHost, { type: 'ready' }>;

/** The workers of `inferq serve`, one ModelWorker per thread. */
export interface WorkerThreads {
  /** The models the workers serve, and those that could not be loaded (with the reason). */
  models: string[];
  unavailable: Record<string, string>;
  /** Each running thread's metrics (its worker registry as JSON), for the API's `/metrics`. */
  metrics(): Promise<MetricsJson[]>;
  /**
   * Runs a fast-path batch of `ref` on one of the threads (in turn), on the runtime its lease
   * loops use; rejects with INFERQ_WORKER_LOST if that thread dies first.
   */
  runFast(ref: string, inputs: ModelInput[], params: PredictParams): Promise<PredictResult[]>;
  /** Drains every thread (finishes the batches in flight) or, with `abort`, stops at once. */
  stop(options?: { abort?: boolean }): Promise<void>;
}

/** One worker thread: start, metrics requests, stop. */
class WorkerThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, (metrics: MetricsJson) => void>();
  private readonly predictions = new Map<
    number,
    { resolve: (results: PredictResult[]) => void; reject: (err: Error) => void }
  >();
  private nextId = 1;
  readonly ready: Promise<Ready>;
  readonly exited: Promise<number>;

  constructor(init: WorkerThreadInit, name: string) {
    this.worker = new Worker(entry.url, { workerData: init, name, execArgv: entry.execArgv });
    this.exited = new Promise((resolve) => this.worker.once('exit', resolve));
    // A batch in flight on a thread that died fails at once, naming why; the API lives on.
    void this.exited.then((code) => {
      for (const { reject } of this.predictions.values()) {
        reject(
          new InferqError(
            'INFERQ_WORKER_LOST',
            `the worker thread running this request exited (code ${code})`,
          ),
        );
      }
      this.predictions.clear();
    });
    this.ready = new Promise((resolve, reject) => {
      this.worker.on('message', (message: ToHost) => {
        if (message.type === 'ready') resolve(message);
        else if (message.type === 'failed') {
          reject(new Error(message.message));
          // Nothing of it is running; whatever it opened before failing must not keep it alive.
          void this.worker.terminate();
        } else if (message.type === 'metrics') {
          this.pending.get(message.id)?.(message.metrics);
          this.pending.delete(message.id);
        } else if (message.type === 'predicted') {
          const results = message.results.map(
            (r): PredictResult => (r.ok ? r : { ok: false, error: errorFromMessage(r.error) }),
          );
          this.predictions.get(message.id)?.resolve(results);
          this.predictions.delete(message.id);
        } else if (message.type === 'predict-failed') {
          this.predictions.get(message.id)?.reject(errorFromMessage(message.error));
          this.predictions.delete(message.id);
        } else if (message.type === 'stopped') void this.worker.terminate();
      });
      this.worker.once('error', reject);
      void this.exited.then((code) =>
        reject(new Error(`worker thread exited (code ${code}) before it was ready`)),
      );
    });
    // Rejections are read through `ready`; an unread one must not become an unhandled rejection.
    this.ready.catch(() => {});
  }

  metrics(): Promise<MetricsJson> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve([]);
      }, metricsTimeoutMs);
      this.pending.set(id, (metrics) => {
        clearTimeout(timer);
        resolve(metrics);
      });
      this.post({ type: 'metrics', id });
    });
  }

  predict(ref: string, inputs: ModelInput[], params: PredictParams): Promise<PredictResult[]> {
    const id = this.nextId++;
    // A small Buffer is a view into Node's shared 8 KiB pool (Buffer.concat, Buffer.from), and a
    // posted view clones its whole ArrayBuffer: post an exact copy of each input, transferred.
    const transfer: ArrayBuffer[] = [];
    const own = inputs.map((input): ModelInput => {
      if (!('bytes' in input)) return input;
      const bytes = input.bytes.slice();
      transfer.push(bytes.buffer as ArrayBuffer);
      return { ...input, bytes };
    });
    return new Promise((resolve, reject) => {
      this.predictions.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'predict', id, ref, inputs: own, params } satisfies FromHost, transfer);
    });
  }

  /** Asks the thread to stop and resolves once it has exited. */
  async stop(abort: boolean): Promise<void> {
    this.post({ type: 'stop', abort });
    await this.exited;
  }

  onError(listener: (err: Error) => void): void {
    this.worker.on('error', listener);
  }

  private post(message: FromHost): void {
    this.worker.postMessage(message);
  }
}

/**
 * Starts `count` worker threads, each running a ModelWorker over its own connections to the
 * configured store, broker and blobs; resolves when all have loaded their models (rejects if
 * any fails to start). The API's event loop then never leases, batches or runs a JS model, and a
 * second core does that work. A thread that dies afterwards is logged and replaced.
 */
export async function startWorkerThreads(options: {
  config: Config;
  count: number;
  logger: Logger;
}): Promise<WorkerThreads> {
  const { config, count, logger } = options;
  const threads = new Set<WorkerThread>();
  let stopping = false;

  const launch = (index: number): WorkerThread => {
    const thread = new WorkerThread({ config }, `inferq-worker-${index}`);
    threads.add(thread);
    thread.onError((err) => logger.error({ err, thread: index }, 'worker thread failed'));
    void thread.exited.then(async (code) => {
      threads.delete(thread);
      if (stopping) return;
      logger.error({ thread: index, code }, `worker thread exited; restarting it in ${restartDelayMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, restartDelayMs));
      if (stopping) return;
      const replacement = launch(index);
      replacement.ready.catch((err) =>
        logger.error({ err, thread: index }, 'worker thread failed to restart'),
      );
    });
    return thread;
  };

  const started = Array.from({ length: count }, (_, index) => launch(index));
  const stop = async (stopOptions: { abort?: boolean } = {}): Promise<void> => {
    stopping = true;
    await Promise.all([...threads].map((t) => t.stop(stopOptions.abort ?? false)));
  };
  let ready: Ready[];
  try {
    ready = await Promise.all(started.map((t) => t.ready));
  } catch (err) {
    await stop({ abort: true });
    throw err;
  }
  let turn = 0;
  return {
    models: ready[0]?.models ?? [],
    unavailable: ready[0]?.unavailable ?? {},
    metrics: () => Promise.all([...threads].map((t) => t.metrics())),
    runFast: async (ref, inputs, params) => {
      // A thread being replaced is not in `threads` until it is launched; one still loading
      // answers once its models are loaded.
      const live = [...threads];
      const thread = live[turn++ % Math.max(1, live.length)];
      if (thread === undefined) {
        throw new InferqError('INFERQ_WORKER_LOST', 'no worker thread is running (one is restarting)');
      }
      return thread.predict(ref, inputs, params);
    },
    stop,
  };
}
