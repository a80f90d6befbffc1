import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { BlobStore } from '../blobs/blob-store.js';
import { controlChannel } from '../core/control-messages.js';
import { newId } from '../core/ids.js';
import type { LeasedJob } from '../core/job.js';
import type { Task } from '../core/task.js';
import type { Broker, Unsubscribe } from '../queue/broker.js';
import type { Runtime } from '../runtime/runtime.js';
import type { TaskStore } from '../store/task-store.js';
import type { WorkerHeartbeat, WorkerRegistry } from '../store/worker-registry.js';
import { LeaseLoop } from './lease-loop.js';
import { createModelHandler } from './model-handler.js';
import type { PipelinePixels } from './pipeline/pipeline-pixels.js';
import { type BatchHandler, processBatch } from './process-batch.js';
import type { WorkerMetrics } from './worker-metrics.js';

const loopsPerInstance = 2;

export interface ModelWorkerOptions {
  store: TaskStore;
  broker: Broker;
  blobs: BlobStore;
  /** Loaded runtimes; their queue is the model's `name@version`. */
  runtimes: readonly Runtime[];
  unavailable?: Record<string, string>;
  registry?: WorkerRegistry;
  metrics?: WorkerMetrics;
  leaseMs: number;
  heartbeatMs?: number;
  version: string;
  workerId?: string;
  logger?: Logger;
  /** Told of finished pipeline steps before their jobs are acked (see `createParentNotifier`). */
  notifyParents?: (children: readonly Task[]) => Promise<void>;
  /** Decoded pixels the pipeline coordinator of this process shares (see `PipelinePixels`). */
  pixels?: PipelinePixels;
}

/**
 * Serves a set of loaded models: one lease loop per model instance, dynamic batching per the
 * model's `batching`, heartbeats to the registry, and a graceful drain on stop.
 */
export class ModelWorker {
  readonly id: string;
  private readonly loops: LeaseLoop[] = [];
  private inFlight = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private unsubscribe: Unsubscribe | undefined;
  private readonly batches = new Set<{ pending: Set<string>; abort: AbortController }>();
  private readonly startedAt = Date.now();
  private state: WorkerHeartbeat['state'] = 'running';
  private pipelines: string[] = [];
  private realtime: string | undefined;

  constructor(private readonly options: ModelWorkerOptions) {
    this.id = options.workerId ?? `${hostname()}-${process.pid}-${newId().slice(-6)}`;
  }

  /** Items this worker is running right now. */
  get inFlightItems(): number {
    return this.inFlight;
  }

  /** `name@version` of the models it runs and of the pipelines its process coordinates. */
  get models(): string[] {
    return [...this.options.runtimes.map((r) => r.model.ref), ...this.pipelines];
  }

  /**
   * Names the pipelines coordinated beside this worker (in its process), so that its heartbeat
   * counts it as serving them: without it, `GET /v1/models` showed a served pipeline with no
   * worker. Heartbeats at once.
   */
  async servePipelines(refs: readonly string[]): Promise<void> {
    this.pipelines = [...refs];
    if (this.heartbeatTimer !== undefined) await this.beat();
  }

  async start(): Promise<void> {
    const { store, broker, blobs, metrics, logger } = this.options;
    for (const runtime of this.options.runtimes) {
      const spec = runtime.model.spec;
      const ref = runtime.model.ref;
      const handler = this.counting(
        createModelHandler({
          runtime,
          blobs,
          ...(this.options.pixels ? { pixels: this.options.pixels } : {}),
          onRun: ({ size, computeMs }) => {
            metrics?.batchSize.observe({ model: ref }, size);
            metrics?.computeSeconds.observe({ model: ref }, computeMs / 1000);
          },
        }),
      );
      // Two loops per instance: while one batch computes, the other leases, claims and writes
      // results, so the model never idles on queue and store round trips. The runtime itself
      // runs one batch per instance at a time; the second loop's batch waits its turn.
      for (let i = 0; i < (spec.instances ?? 1) * loopsPerInstance; i++) {
        const loop = new LeaseLoop({
          broker,
          queue: ref,
          batchSize: spec.batching?.maxBatchSize ?? 1,
          maxDelayMs: spec.batching?.maxDelayMs ?? 0,
          leaseMs: this.options.leaseMs,
          ...(logger ? { logger: logger.child({ model: ref }) } : {}),
          taskRows: store,
          process: async (jobs, signal) => {
            // A cancel message for every task of the batch aborts just this batch.
            const cancelled = new AbortController();
            const ended = this.trackBatch(jobs, cancelled);
            try {
              const report = await processBatch(
                {
                  store,
                  broker,
                  workerId: this.id,
                  handler,
                  leaseMs: this.options.leaseMs,
                  signal: AbortSignal.any([signal, cancelled.signal]),
                  ...(this.options.notifyParents ? { notifyParents: this.options.notifyParents } : {}),
                },
                jobs,
              );
              for (const [outcome, count] of Object.entries(report)) {
                if (count > 0) metrics?.items.inc({ model: ref, outcome }, count);
              }
            } finally {
              ended();
            }
          },
        });
        loop.start();
        this.loops.push(loop);
      }
    }
    this.unsubscribe = await broker.subscribe(controlChannel, (message) => {
      if (message.type === 'cancel' && typeof message.taskId === 'string') this.cancel(message.taskId);
    });
    await this.beat();
    this.heartbeatTimer = setInterval(() => {
      this.beat().catch((err) => logger?.warn({ err }, 'heartbeat failed'));
    }, this.options.heartbeatMs ?? 5_000);
    this.heartbeatTimer.unref();
  }

  /** Stops leasing and finishes what is in flight (`abort`: stop at once, leases expire). */
  async stop(options: { abort?: boolean } = {}): Promise<void> {
    this.state = 'draining';
    await this.beat().catch(() => {});
    await Promise.all(this.loops.map((loop) => loop.stop(options)));
    clearInterval(this.heartbeatTimer);
    await this.unsubscribe?.().catch(() => {});
    await this.options.registry?.remove(this.id).catch(() => {});
  }

  /**
   * Remembers which tasks a running batch holds, so a cancel message can stop it. A batch is
   * aborted only when every task in it is cancelled: its batch-mates' work is never thrown away.
   * An aborted batch writes and acks nothing; the store already says `cancelled`, and the
   * redelivery after the lease finds the task final and acks it.
   */
  private trackBatch(jobs: readonly LeasedJob[], abort: AbortController): () => void {
    const pending = new Set<string>();
    for (const job of jobs) {
      const taskId = (job.payload as { taskId?: unknown } | null)?.taskId;
      if (typeof taskId === 'string') pending.add(taskId);
    }
    const batch = { pending, abort };
    this.batches.add(batch);
    return () => this.batches.delete(batch);
  }

  private cancel(taskId: string): void {
    for (const batch of this.batches) {
      if (batch.pending.delete(taskId) && batch.pending.size === 0) {
        this.options.logger?.info({ taskId }, 'every task of a running batch was cancelled: stopping it');
        batch.abort.abort();
      }
    }
  }

  private counting(handler: BatchHandler): BatchHandler {
    return async (items, signal) => {
      this.inFlight += items.length;
      try {
        return await handler(items, signal);
      } finally {
        this.inFlight -= items.length;
      }
    };
  }

  /** Advertises where API hosts reach this worker's fast path over ZeroMQ (the next heartbeat, sent now). */
  async advertiseRealtime(endpoint: string): Promise<void> {
    this.realtime = endpoint;
    await this.beat();
  }

  private providers(): { providers?: Record<string, string> } {
    const entries = this.options.runtimes.flatMap((r) =>
      r.executionProvider ? [[r.model.ref, r.executionProvider.provider] as const] : [],
    );
    return entries.length > 0 ? { providers: Object.fromEntries(entries) } : {};
  }

  private async beat(): Promise<void> {
    await this.options.registry?.heartbeat({
      id: this.id,
      host: hostname(),
      pid: process.pid,
      models: this.models,
      inFlight: this.inFlight,
      version: this.options.version,
      state: this.state,
      startedAt: this.startedAt,
      ...this.providers(),
      ...(this.realtime === undefined ? {} : { realtime: this.realtime }),
      ...(this.options.unavailable && Object.keys(this.options.unavailable).length > 0
        ? { unavailable: this.options.unavailable }
        : {}),
    });
  }
}
