import type { CatalogEntry } from '../core/model-catalog.js';
import { targetRef } from '../core/task.js';
import type { WorkerInfo, WorkerRegistry } from '../store/worker-registry.js';
import type { Clock } from './app-deps.js';

/** Heartbeats come every 5 s by default: three missed ones mark a worker stale. */
export const workerStaleAfterMs = 15_000;

/** A worker that serves now: its heartbeat is younger than {@link workerStaleAfterMs} and it is not draining. */
export function isLiveWorker(worker: Pick<WorkerInfo, 'lastSeenAt' | 'state'>, now: number): boolean {
  return now - worker.lastSeenAt <= workerStaleAfterMs && worker.state === 'running';
}

/** A submission's target (or a step of it) that no live worker serves now. */
export interface NoWorkerWarning {
  code: 'INFERQ_NO_WORKER';
  /** `name@version` of the submitted model or pipeline. */
  target: string;
  /** `name@version` that has no worker: the target itself, or a model a pipeline step runs. */
  unserved: string;
  message: string;
}

/**
 * How many live workers (heartbeat younger than {@link workerStaleAfterMs}, not draining) serve
 * each `name@version`, from the worker registry. Submissions ask on every request, so they read
 * a copy at most `maxAgeMs` old (one registry read shared by concurrent callers); the models
 * route reads it fresh.
 */
export class ServingWorkers {
  readonly #registry: WorkerRegistry | undefined;
  readonly #clock: Clock;
  #cached: { at: number; counts: Map<string, number>; providers: Map<string, string[]> } | undefined;
  #reading: Promise<Map<string, number>> | undefined;

  constructor(registry: WorkerRegistry | undefined, clock: Clock) {
    this.#registry = registry;
    this.#clock = clock;
  }

  /** Undefined when the deployment keeps no worker registry (nothing is known). */
  async counts(maxAgeMs = 0): Promise<Map<string, number> | undefined> {
    if (this.#registry === undefined) return undefined;
    const cached = this.#cached;
    if (cached !== undefined && this.#clock() - cached.at <= maxAgeMs) return cached.counts;
    this.#reading ??= this.#read(this.#registry).finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }

  /**
   * A warning per target of a submission that would wait for a worker: no live worker serves
   * the model, or the pipeline, or a model one of the pipeline's steps runs. The tasks are still
   * accepted (a worker may start later: the queue keeps them), but the client learns why they
   * stay queued instead of finding out by waiting.
   */
  async warnings(entries: readonly CatalogEntry[], maxAgeMs = 2_000): Promise<NoWorkerWarning[]> {
    const serving = await this.counts(maxAgeMs);
    if (serving === undefined) return [];
    const warnings: NoWorkerWarning[] = [];
    for (const entry of entries) {
      const target = targetRef(entry);
      // What must be served, by ref: the target, and the models of a pipeline's steps.
      const needed = new Map([[target, entry.name]]);
      if (entry.kind === 'pipeline') {
        for (const { model } of entry.pipeline.steps)
          if (model !== undefined) needed.set(targetRef(model), model.name);
      }
      for (const [unserved, name] of needed) {
        if ((serving.get(unserved) ?? 0) > 0) continue;
        warnings.push({
          code: 'INFERQ_NO_WORKER',
          target,
          unserved,
          message:
            unserved === target
              ? `no worker serves ${target} now: its tasks wait, queued, until one starts (inferq worker --models ${name})`
              : `no worker serves ${unserved}, which a step of ${target} runs: its tasks wait at that step until one starts (inferq worker --models ${name})`,
        });
      }
    }
    return warnings;
  }

  /**
   * The execution providers the live workers run each onnx model on, one entry per worker (as of
   * the last {@link counts} read).
   */
  providers(): ReadonlyMap<string, readonly string[]> {
    return this.#cached?.providers ?? new Map();
  }

  async #read(registry: WorkerRegistry): Promise<Map<string, number>> {
    const now = this.#clock();
    const counts = new Map<string, number>();
    const providers = new Map<string, string[]>();
    for (const worker of await registry.list()) {
      if (!isLiveWorker(worker, now)) continue;
      for (const ref of worker.models) counts.set(ref, (counts.get(ref) ?? 0) + 1);
      for (const [ref, provider] of Object.entries(worker.providers ?? {})) {
        providers.set(ref, [...(providers.get(ref) ?? []), provider]);
      }
    }
    this.#cached = { at: now, counts, providers };
    return counts;
  }
}
