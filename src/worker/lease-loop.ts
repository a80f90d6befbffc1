import type { Logger } from 'pino';
import type { LeasedJob } from '../core/job.js';
import { parseTaskJobPayload } from '../core/task-job.js';
import type { Broker } from '../queue/broker.js';
import type { TaskLease, TaskStore } from '../store/task-store.js';
import { collectBatch } from './collect-batch.js';

export interface LeaseLoopOptions {
  broker: Broker;
  queue: string;
  /** Jobs leased per round (the batch size ceiling). */
  batchSize: number;
  leaseMs: number;
  /** Dynamic batching window after the first job (0 = run what is ready at once). */
  maxDelayMs?: number;
  /** Long-poll wait when the queue is empty. */
  idleWaitMs?: number;
  logger?: Logger;
  /**
   * Processes one leased batch and acks or nacks every job of it: `processBatch` for model
   * work, the pipeline coordinator's advances for its wake-ups. `signal` aborts on a forced stop.
   */
  process: (jobs: LeasedJob[], signal: AbortSignal) => Promise<unknown>;
  /**
   * The store whose task rows are these jobs' leases (model work: processBatch claims each task
   * under its job's token): renewed with the broker's leases, one statement per batch. Absent
   * where the jobs are wake-ups whose tasks are held under a token of their own (the coordinator).
   */
  taskRows?: TaskStore;
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
        const store = this.options.taskRows;
        const rows = store ? taskLeasesOf(jobs) : [];
        const renew = setInterval(
          () => {
            broker
              .extendLeases(jobs, leaseMs)
              .catch((err) => logger?.warn({ err, queue }, 'lease renewal failed'));
            if (store && rows.length > 0) {
              store
                .renewLeases(rows, leaseMs)
                .catch((err) => logger?.warn({ err, queue }, 'task lease renewal failed'));
            }
          },
          Math.max(10, Math.floor(leaseMs / 3)),
        );
        try {
          await this.options.process(jobs, this.abort.signal);
        } finally {
          clearInterval(renew);
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
