import { Worker } from 'node:worker_threads';
import { InferqError } from '../errors/index.js';
import {
  type CancelRequest,
  deserializeError,
  deserializeResults,
  type PredictRequest,
  prepareTransfer,
  type SessionThreadInit,
  type ThreadMessage,
} from './onnx-messages.js';
import type { ModelInput, PredictParams, PredictResult } from './runtime.js';
import { threadEntry } from './thread-entry.js';

const entry = threadEntry(import.meta.url, 'onnx-thread');

interface Pending {
  resolve: (results: PredictResult[]) => void;
  reject: (err: Error) => void;
  started: () => void;
}

/** What a session thread reports once loaded. */
export interface SessionReady {
  /** The execution provider the session runs on (`cpu`, `cuda`, `cuda:1`…). */
  provider: string;
  /** Why it is not model.yaml's first provider (the session fell back to the CPU). */
  fellBack?: string;
}

/** A batch sent to the thread. */
export interface SentBatch {
  id: number;
  /** Resolves when the batch gets the session (never, if it fails before any run). */
  started: Promise<void>;
  result: Promise<PredictResult[]>;
}

/**
 * Main-thread handle of one onnx session thread: starts it, sends batches (their buffers
 * transferred, not copied), matches answers to requests. If the thread dies, every pending
 * call is rejected and the handle is dead; the owner starts a new one.
 *
 * A thread is never terminated while it is inside onnxruntime (loading a session or running
 * one): `Worker.terminate()` at that moment makes the native binding throw into a torn-down
 * environment and aborts the whole process ("terminate called after throwing an instance of
 * 'Napi::Error'"). {@link retire} therefore stops new work at once and terminates the thread
 * when its last batch has come back.
 */
export class SessionThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private dead: Error | undefined;
  private loading = true;
  private retiring = false;
  private readonly exited: Promise<void>;
  /**
   * Settles when the session and processor are loaded (rejects if they cannot be), with the
   * execution provider the session runs on and, when it is not model.yaml's first, why.
   */
  readonly ready: Promise<SessionReady>;

  constructor(init: SessionThreadInit) {
    this.worker = new Worker(entry.url, {
      workerData: init,
      name: `inferq-onnx:${init.model.ref}`,
      execArgv: entry.execArgv,
    });
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    this.ready = new Promise<SessionReady>((resolve, reject) => {
      this.worker.on('message', (message: ThreadMessage) => {
        if (message.type === 'ready' || message.type === 'load-failed') {
          this.loading = false;
          if (message.type === 'ready') {
            resolve({
              provider: message.provider,
              ...(message.fellBack ? { fellBack: message.fellBack } : {}),
            });
          } else {
            this.dead ??= deserializeError(message.error);
            reject(this.dead);
          }
          this.terminateIfIdle();
        } else if (message.type === 'started') {
          this.pending.get(message.id)?.started();
        } else {
          this.settle(message);
        }
      });
      const fail = (err: Error) => {
        // After retire() the reason stays "stopped", not the exit that follows it.
        this.dead ??= err;
        reject(this.dead);
        for (const p of this.pending.values()) p.reject(this.dead);
        this.pending.clear();
      };
      this.worker.on('error', (cause) =>
        fail(
          new InferqError(
            'INFERQ_WORK_FAILED',
            `onnx thread of ${init.model.ref} crashed: ${cause.message}`,
            {
              cause,
            },
          ),
        ),
      );
      this.worker.on('exit', (code) =>
        fail(new InferqError('INFERQ_WORK_FAILED', `onnx thread of ${init.model.ref} exited (code ${code})`)),
      );
    });
    // A load failure is reported through `ready`; this keeps it from also being "unhandled".
    this.ready.catch(() => {});
  }

  /** Batches sent and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** False once the thread crashed, failed to load, or was retired: it takes no more work. */
  get alive(): boolean {
    return this.dead === undefined;
  }

  /** Sends a batch; the thread runs the batches it holds one after another, in order. */
  send(batch: readonly ModelInput[], params: PredictParams, keepInputs = false): SentBatch {
    if (this.dead) {
      const result = Promise.reject(this.dead);
      return { id: 0, started: new Promise(() => {}), result };
    }
    const id = this.nextId++;
    const prepared = prepareTransfer(batch, keepInputs);
    const request: PredictRequest = { type: 'predict', id, batch: prepared.batch, params };
    let started!: () => void;
    const startedPromise = new Promise<void>((resolve) => {
      started = resolve;
    });
    const result = new Promise<PredictResult[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, started });
      try {
        this.worker.postMessage(request, prepared.transfer);
      } catch (cause) {
        // Params or a value that structured cloning refuses (a function, a class instance…).
        this.pending.delete(id);
        reject(
          new InferqError(
            'INFERQ_VALIDATION_FAILED',
            `cannot send the batch to the onnx thread: ${(cause as Error).message}`,
            { cause },
          ),
        );
      }
    });
    return { id, started: startedPromise, result };
  }

  /**
   * Drops a batch that has not started running: the thread skips it, and its result promise
   * rejects with `INFERQ_CANCELLED`. (A batch already running cannot be stopped.)
   */
  cancel(id: number): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    // Rejected now; the entry stays until the thread answers (skipped, or run if it had just
    // started), so the thread is never terminated while it might be inside onnxruntime.
    pending.reject(new InferqError('INFERQ_CANCELLED', 'prediction cancelled'));
    const request: CancelRequest = { type: 'cancel', id };
    this.worker.postMessage(request);
  }

  /**
   * Takes no more work and ends the thread as soon as it is idle (at once if it is). Batches
   * already sent still complete; resolves when the thread has exited.
   */
  retire(): Promise<void> {
    this.dead ??= new InferqError('INFERQ_MODEL_NOT_LOADED', 'the onnx thread was stopped');
    this.retiring = true;
    this.terminateIfIdle();
    return this.exited;
  }

  private terminateIfIdle(): void {
    if ((this.retiring || this.dead) && !this.loading && this.pending.size === 0)
      void this.worker.terminate();
  }

  private settle(message: Extract<ThreadMessage, { type: 'results' | 'failed' }>): void {
    const pending = this.pending.get(message.id);
    if (!pending) return;
    this.pending.delete(message.id);
    if (message.type === 'results') pending.resolve(deserializeResults(message.results));
    else pending.reject(deserializeError(message.error));
    this.terminateIfIdle();
  }
}
