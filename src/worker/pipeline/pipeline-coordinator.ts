import type { Logger } from 'pino';
import type { BlobStore } from '../../blobs/blob-store.js';
import type { CompiledPipeline } from '../../core/check-pipeline.js';
import type { LeasedJob } from '../../core/job.js';
import { parseTaskJobPayload } from '../../core/task-job.js';
import { announceSettled, announceStarted } from '../../queue/announce-tasks.js';
import type { Broker } from '../../queue/broker.js';
import type { TaskStore } from '../../store/task-store.js';
import { LeaseLoop } from '../lease-loop.js';
import type { BatchReport } from '../process-batch.js';
import { advancePipeline } from './advance-pipeline.js';
import { PipelineChildren } from './pipeline-children.js';
import { PixelThread } from './pipeline-pixel-worker.js';
import type { PipelinePixels } from './pipeline-pixels.js';

export interface PipelineCoordinatorOptions {
  store: TaskStore;
  broker: Broker;
  blobs: BlobStore;
  pipelines: readonly CompiledPipeline[];
  workerId: string;
  leaseMs: number;
  /** Wake-ups leased per round; several for one task are merged into one advance. */
  batchSize?: number;
  /**
   * Decoded pixels shared with the model worker of this process (the same instance given to
   * both): crops go from one step to the next without a PNG decode. Without it, every step
   * decodes the blob.
   */
  pixels?: PipelinePixels;
  /** See {@link AdvancePipelineDeps.jobsWrittenByStore}. */
  jobsWrittenByStore?: boolean;
  logger?: Logger;
}

/**
 * Runs pipeline tasks: leases the jobs of each pipeline's queue (`name@version`: the task the
 * API enqueued, and the wake-ups model workers send when a step finishes) and advances each
 * task they name ({@link advancePipeline}). A job is acked only after its advance returned,
 * so a coordinator killed mid-advance leaves the job to be delivered again and redone.
 */
/**
 * Lease loops per pipeline queue: while one waits on a slow advance (a page's crops), the
 * other advances the tasks whose steps have just finished instead of leaving them queued.
 */
const loopsPerQueue = 2;

export class PipelineCoordinator {
  readonly #loops: LeaseLoop[] = [];
  /** The advance in flight per task: a task's advances in this process run one at a time. */
  readonly #advancing = new Map<string, Promise<unknown>>();
  /** The children read by earlier wake-ups: a wake-up reads only those that changed since. */
  readonly #children: PipelineChildren;
  /** The transforms' per-pixel work, off the event loop. */
  readonly #pixelThread = new PixelThread();

  constructor(private readonly options: PipelineCoordinatorOptions) {
    this.#children = new PipelineChildren(options.store);
  }

  get pipelines(): string[] {
    return this.options.pipelines.map((p) => `${p.name}@${p.version}`);
  }

  start(): void {
    const { broker, leaseMs, logger } = this.options;
    const byRef = new Map(this.options.pipelines.map((p) => [`${p.name}@${p.version}`, p]));
    for (const queue of [...byRef.keys()].flatMap((q) => Array<string>(loopsPerQueue).fill(q))) {
      // Its jobs are wake-ups: the pipeline tasks are held under a token of their own
      // (advancePipeline), so no task rows are renewed with the jobs' leases.
      const loop = new LeaseLoop({
        broker,
        queue,
        batchSize: this.options.batchSize ?? 32,
        leaseMs,
        ...(logger ? { logger: logger.child({ pipeline: queue }) } : {}),
        process: (jobs) => this.#process(jobs, byRef),
      });
      loop.start();
      this.#loops.push(loop);
    }
  }

  /** Stops leasing and lets the advances in flight finish. */
  async stop(options: { abort?: boolean } = {}): Promise<void> {
    await Promise.all(this.#loops.map((loop) => loop.stop(options)));
    this.#loops.length = 0;
    await this.#pixelThread.close();
  }

  async #process(jobs: LeasedJob[], pipelines: ReadonlyMap<string, CompiledPipeline>): Promise<BatchReport> {
    const { store, broker, blobs, logger } = this.options;
    const report: BatchReport = { succeeded: 0, failed: 0, retried: 0, skipped: 0, stale: 0 };
    const byParent = new Map<string, LeasedJob[]>();
    for (const job of jobs) {
      try {
        const { taskId } = parseTaskJobPayload(job.payload);
        byParent.set(taskId, [...(byParent.get(taskId) ?? []), job]);
      } catch (err) {
        await broker.nack(job, { error: (err as Error).message, retryable: false });
        report.failed++;
      }
    }
    const deps = {
      store,
      broker,
      blobs,
      pipelines,
      workerId: this.options.workerId,
      children: this.#children,
      pixelThread: this.#pixelThread,
      ...(this.options.pixels ? { pixels: this.options.pixels } : {}),
      jobsWrittenByStore: this.options.jobsWrittenByStore === true,
    };
    const settled: string[] = [];
    const started: string[] = [];
    await Promise.all(
      [...byParent].map(async ([taskId, parentJobs]) => {
        try {
          const result = await this.#oneAtATime(taskId, () => advancePipeline(deps, taskId));
          if (result === 'succeeded') report.succeeded++;
          else if (result === 'failed') report.failed++;
          else report.skipped++;
          if (result === 'succeeded' || result === 'failed') settled.push(taskId);
          if (result === 'started') started.push(taskId);
          await broker.ack(parentJobs);
        } catch (err) {
          // Transient (store, broker, blob store): try again after the broker's backoff.
          logger?.warn({ err, taskId }, 'pipeline advance failed; retrying');
          report.retried++;
          for (const job of parentJobs)
            await broker.nack(job, { error: (err as Error).message, retryable: true });
        }
      }),
    );
    await announceStarted(broker, started);
    await announceSettled(broker, settled);
    return report;
  }

  /**
   * Runs `advance` after the advance of `taskId` already in flight in this process, if any:
   * two at once would be safe (an advance is idempotent) but would compute the same
   * transforms twice, and each would read what the other is about to change.
   */
  async #oneAtATime<T>(taskId: string, advance: () => Promise<T>): Promise<T> {
    const before = this.#advancing.get(taskId);
    const mine = (before ?? Promise.resolve()).catch(() => undefined).then(advance);
    this.#advancing.set(taskId, mine);
    try {
      return await mine;
    } finally {
      if (this.#advancing.get(taskId) === mine) this.#advancing.delete(taskId);
    }
  }
}
