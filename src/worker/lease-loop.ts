import type { Logger } from 'pino';
import type { LeasedJob } from '../core/job.js';
import type { Task } from '../core/task.js';
import { parseTaskJobPayload } from '../core/task-job.js';
import type { Broker } from '../queue/broker.js';
import type { TaskLease, TaskStore } from '../store/task-store.js';
import { collectBatch } from './collect-batch.js';
import { type BatchHandler, type BatchReport, processBatch } from './process-batch.js';

export interface LeaseLoopOptions {
  store: TaskStore;
  broker: Broker;
  queue: string;
  workerId: string;
  handler: BatchHandler;
  /** Jobs leased per round (the batch size ceiling). */
  batchSize: number;
  leaseMs: number;
  /** Dynamic batching window after the first job (0 = run what is ready at once). */
  maxDelayMs?: number;
  /** Long-poll wait when the queue is empty. */
  idleWaitMs?: number;
  logger?: Logger;
  onBatch?: (report: BatchReport) => void;
  /** Passed to processBatch: told of finished pipeline steps before their jobs are acked. */
  notifyParents?: (children: readonly Task[]) => Promise<void>;
  /**
   * Processes a leased batch instead of {@link processBatch} (the pipeline coordinator, whose
   * jobs are wake-ups rather than model work); it must ack or nack every job.
   */
  process?: (jobs: LeasedJob[], signal: AbortSignal) => Promise<BatchReport>;
  /**
   * Told when a batch starts, with a controller that aborts just that batch (a cancel message
   * for every task in it); the returned function is called when the batch ends.
   */
  onBatchStart?: (jobs: readonly LeasedJob[], abort: AbortController) => () => void;
}

/**
 * Leases batches from one queue and processes them until stopped. While a batch runs its
 * leases are renewed every third of `leaseMs`, the broker's and the task rows' (the one that
 * decides: a claim takes a task over only once its row's lease has expired), so a slow batch is
 * not taken over by another worker; a worker that dies stops renewing and its jobs come back,
 * and its tasks are taken over, after the lease expires.
 */
export class LeaseLoop {
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly abort = new AbortController();

  constructor(private readonly options: LeaseLoopOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /**
   * Graceful drain: stop leasing, let the batch in flight finish and be acked, then resolve.
   * With `abort: true` the batch in flight is signalled to stop; its leases then expire.
   */
  async stop(options: { abort?: boolean } = {}): Promise<void> {
    this.running = false;
    if (options.abort) this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { broker, queue, batchSize, leaseMs, logger } = this.options;
    while (this.running) {
      try {
        const jobs = await collectBatch((max, waitMs) => broker.lease(queue, { max, leaseMs, waitMs }), {
          max: batchSize,
          maxDelayMs: this.options.maxDelayMs ?? 0,
          idleWaitMs: this.options.idleWaitMs ?? 500,
          signal: this.abort.signal,
        });
        if (jobs.length === 0) continue;
        // The task rows are the leases of model work (processBatch claims them under the jobs'
        // tokens): renewed with the broker's, one statement for the batch. The coordinator's
        // jobs are wake-ups whose tasks it holds under a token of their own: no rows to renew.
        const rows = this.options.process ? [] : taskLeasesOf(jobs);
        const renew = setInterval(
          () => {
            broker
              .extendLeases(jobs, leaseMs)
              .catch((err) => logger?.warn({ err, queue }, 'lease renewal failed'));
            if (rows.length > 0) {
              this.options.store
                .renewLeases(rows, leaseMs)
                .catch((err) => logger?.warn({ err, queue }, 'task lease renewal failed'));
            }
          },
          Math.max(10, Math.floor(leaseMs / 3)),
        );
        const batchAbort = new AbortController();
        const signal = AbortSignal.any([this.abort.signal, batchAbort.signal]);
        const ended = this.options.onBatchStart?.(jobs, batchAbort);
        try {
          const report = this.options.process
            ? await this.options.process(jobs, signal)
            : await processBatch(
                {
                  store: this.options.store,
                  broker,
                  workerId: this.options.workerId,
                  handler: this.options.handler,
                  leaseMs,
                  signal,
                  ...(this.options.notifyParents ? { notifyParents: this.options.notifyParents } : {}),
                },
                jobs,
              );
          this.options.onBatch?.(report);
        } finally {
          clearInterval(renew);
          ended?.();
        }
      } catch (err) {
        // A store or broker outage must not kill the worker: log, back off, try again.
        logger?.error({ err, queue }, 'lease round failed');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }
}

/** The task-row leases of a batch: each job's task under the job's token (unparsable payloads left out). */
function taskLeasesOf(jobs: readonly LeasedJob[]): TaskLease[] {
  const leases: TaskLease[] = [];
  for (const job of jobs) {
    try {
      leases.push({ id: parseTaskJobPayload(job.payload).taskId, leaseToken: job.token });
    } catch {
      // processBatch dead-letters it.
    }
  }
  return leases;
}
