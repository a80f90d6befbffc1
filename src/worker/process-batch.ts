import type { LeasedJob } from '../core/job.js';
import type { Task } from '../core/task.js';
import { isFinalState } from '../core/task-state.js';
import type { Broker } from '../queue/broker.js';
import type { TaskStore } from '../store/task-store.js';
import { parseTaskJobPayload } from './task-job.js';
import { outcomeFromError, type WorkOutcome } from './work-outcome.js';

/** A leased job whose task this worker now holds in the store. */
export interface ClaimedItem {
  job: LeasedJob;
  task: Task;
}

/** Runs a batch of claimed items and returns one outcome per item, in order. */
export type BatchHandler = (items: readonly ClaimedItem[], signal: AbortSignal) => Promise<WorkOutcome[]>;

export interface ProcessBatchDeps {
  store: TaskStore;
  broker: Broker;
  workerId: string;
  handler: BatchHandler;
  signal?: AbortSignal;
  /** Called after each item's outcome is durably written (metrics, tests). */
  onSettled?: (item: ClaimedItem, outcome: WorkOutcome, written: boolean) => void;
  /**
   * Told of the pipeline steps (tasks with a `parent`) of this batch that are final, written
   * now or found final on a redelivery, before their jobs are acked: a crash in between
   * redelivers the jobs and tells again, so a parent never misses the end of a step. When it
   * throws, nothing of the batch is acked (the leases expire and the jobs come back).
   */
  notifyParents?: (children: readonly Task[]) => Promise<void>;
}

export interface BatchReport {
  succeeded: number;
  failed: number;
  retried: number;
  /** Jobs acked without running: their task was already final, cancelled or gone. */
  skipped: number;
  /** Writes the store refused because this worker's lease was no longer current. */
  stale: number;
}

/**
 * The at-least-once → exactly-once step. For each leased job: claim its task in the store under
 * the job's lease token; run the claimed ones as one batch; write each outcome with a
 * conditional transition; then ack (or nack for a retry). A crash anywhere before the ack
 * redelivers the job: the redelivered claim finds the task final and simply acks, so the
 * result is never written twice.
 */
export async function processBatch(deps: ProcessBatchDeps, jobs: readonly LeasedJob[]): Promise<BatchReport> {
  const report: BatchReport = { succeeded: 0, failed: 0, retried: 0, skipped: 0, stale: 0 };
  const { store, broker } = deps;
  const claimed: ClaimedItem[] = [];
  const toAck: LeasedJob[] = [];
  const finalChildren: Task[] = [];

  for (const job of jobs) {
    let taskId: string;
    try {
      taskId = parseTaskJobPayload(job.payload).taskId;
    } catch (err) {
      // A payload that cannot be parsed will never parse: dead-letter it, keep the batch going.
      await broker.nack(job, { error: (err as Error).message, retryable: false });
      report.failed++;
      continue;
    }
    const claim = await store.claimTask(taskId, { leaseToken: job.token, workerId: deps.workerId });
    if (claim.claimed) claimed.push({ job, task: claim.task });
    else {
      if (claim.task?.parent !== undefined && isFinalState(claim.task.state)) finalChildren.push(claim.task);
      toAck.push(job);
      report.skipped++;
    }
  }

  if (claimed.length > 0) {
    const outcomes = await runHandler(deps, claimed);
    // Aborted (a forced shutdown): write nothing and ack nothing; the leases expire and the
    // jobs are delivered again, so no outcome of a half-run batch is ever recorded.
    if (deps.signal?.aborted) return report;
    for (const [index, item] of claimed.entries()) {
      const outcome = outcomes[index]!;
      const written = await writeOutcome(deps, item, outcome, report);
      deps.onSettled?.(item, outcome, written);
      if (written && !outcome.ok && isRetry(item, outcome)) {
        await broker.nack(item.job, { error: outcome.error.message, retryable: true });
      } else {
        toAck.push(item.job);
        if (written && item.task.parent !== undefined) finalChildren.push(item.task);
      }
    }
  }
  if (finalChildren.length > 0 && deps.notifyParents) await deps.notifyParents(finalChildren);
  if (toAck.length > 0) await broker.ack(toAck);
  return report;
}

async function runHandler(deps: ProcessBatchDeps, items: ClaimedItem[]): Promise<WorkOutcome[]> {
  const signal = deps.signal ?? new AbortController().signal;
  try {
    const outcomes = await deps.handler(items, signal);
    if (outcomes.length !== items.length) {
      throw new Error(`handler returned ${outcomes.length} outcomes for ${items.length} items`);
    }
    return outcomes;
  } catch (err) {
    if (signal.aborted) return items.map(() => outcomeFromError(err));
    // The batch as a whole failed: run items one by one so a single bad item cannot take its
    // batch-mates down with it.
    if (items.length === 1) return [outcomeFromError(err)];
    const singles: WorkOutcome[] = [];
    for (const item of items) {
      try {
        const [outcome] = await deps.handler([item], signal);
        singles.push(outcome ?? outcomeFromError(new Error('handler returned no outcome')));
      } catch (single) {
        singles.push(outcomeFromError(single));
      }
    }
    return singles;
  }
}

function isRetry(item: ClaimedItem, outcome: Extract<WorkOutcome, { ok: false }>): boolean {
  return outcome.retryable && item.task.attempts < item.task.maxAttempts;
}

async function writeOutcome(
  deps: ProcessBatchDeps,
  item: ClaimedItem,
  outcome: WorkOutcome,
  report: BatchReport,
): Promise<boolean> {
  const { store } = deps;
  const leaseToken = item.job.token;
  if (outcome.ok) {
    const ok = await store.completeTask(item.task.id, {
      leaseToken,
      result: outcome.result,
      ...(outcome.timing ? { timing: outcome.timing } : {}),
    });
    if (ok) report.succeeded++;
    else report.stale++;
    return ok;
  }
  const retry = isRetry(item, outcome);
  const ok = await store.failTask(item.task.id, { leaseToken, error: outcome.error, retry });
  if (!ok) report.stale++;
  else if (retry) report.retried++;
  else report.failed++;
  return ok;
}
