import type { LeasedJob } from '../core/job.js';
import type { Task } from '../core/task.js';
import { parseTaskJobPayload } from '../core/task-job.js';
import { isFinalState } from '../core/task-state.js';
import { announceSettled, announceStarted } from '../queue/announce-tasks.js';
import type { Broker } from '../queue/broker.js';
import type { Settlement, TaskStore } from '../store/task-store.js';
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

/**
 * How long a batch runs before its tasks are announced as started (core/task-events.ts). Event
 * streams otherwise see `running` at their next poll (`pollIntervalMs`, 200 ms by default).
 */
const announceStartAfterMs = 50;

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

  const parsed: Array<{ job: LeasedJob; taskId: string }> = [];
  for (const job of jobs) {
    try {
      parsed.push({ job, taskId: parseTaskJobPayload(job.payload).taskId });
    } catch (err) {
      // A payload that cannot be parsed will never parse: dead-letter it, keep the batch going.
      await broker.nack(job, { error: (err as Error).message, retryable: false });
      report.failed++;
    }
  }
  // One store transaction claims the whole batch, and one below writes its outcomes.
  const claims = await store.claimTasks(
    parsed.map(({ job, taskId }) => ({ id: taskId, leaseToken: job.token, workerId: deps.workerId })),
  );
  for (const [index, { job }] of parsed.entries()) {
    const claim = claims[index]!;
    if (claim.claimed) claimed.push({ job, task: claim.task });
    else {
      if (claim.task?.parent !== undefined && isFinalState(claim.task.state)) finalChildren.push(claim.task);
      toAck.push(job);
      report.skipped++;
    }
  }

  if (claimed.length > 0) {
    // Event streams show `running` once a run has lasted `announceStartAfterMs`; a shorter run
    // (a light model under load) ends before anyone could see it, and costs no broadcast.
    const announceStart = setTimeout(() => {
      void announceStarted(
        broker,
        claimed.map((item) => item.task.id),
      );
    }, announceStartAfterMs);
    let outcomes: WorkOutcome[];
    try {
      outcomes = await runClaimed(deps, claimed);
    } finally {
      clearTimeout(announceStart);
    }
    // Aborted (a forced shutdown): write nothing and ack nothing; the leases expire and the
    // jobs are delivered again, so no outcome of a half-run batch is ever recorded.
    if (deps.signal?.aborted) return report;
    const written = await writeOutcomes(deps, claimed, outcomes, report);
    await announceSettled(
      broker,
      claimed.filter((_, index) => written[index]).map((item) => item.task.id),
    );
    const toRetry: Array<{ job: LeasedJob; error: string }> = [];
    for (const [index, item] of claimed.entries()) {
      const outcome = outcomes[index]!;
      deps.onSettled?.(item, outcome, written[index]!);
      if (written[index] && !outcome.ok && isRetry(item, outcome)) {
        toRetry.push({ job: item.job, error: outcome.error.message });
      } else {
        toAck.push(item.job);
        if (written[index] && item.task.parent !== undefined) finalChildren.push(item.task);
      }
    }
    for (const { job, error } of toRetry) await broker.nack(job, { error, retryable: true });
  }
  if (finalChildren.length > 0 && deps.notifyParents) await deps.notifyParents(finalChildren);
  if (toAck.length > 0) await broker.ack(toAck);
  return report;
}

/**
 * Runs the claimed items, except those delivered once more than their task may be attempted,
 * which happens only when its last attempt was lost (see taskJob): they fail with
 * INFERQ_WORKER_LOST without running, so a task that crashes each worker that runs it (a poison
 * pill) ends failed instead of staying `running`, and takes no further worker down.
 */
async function runClaimed(deps: ProcessBatchDeps, items: ClaimedItem[]): Promise<WorkOutcome[]> {
  const lost = (item: ClaimedItem) => item.task.attempts > item.task.maxAttempts;
  const runnable = items.filter((item) => !lost(item));
  const ran = runnable.length > 0 ? await runHandler(deps, runnable) : [];
  let next = 0;
  return items.map((item) =>
    lost(item)
      ? {
          ok: false,
          retryable: false,
          error: {
            code: 'INFERQ_WORKER_LOST',
            message: `the task has used its ${item.task.maxAttempts} attempt(s) and the last ended without an outcome: the worker running it crashed, was killed or lost its lease (a model that crashes its process or thread on this input?)`,
          },
        }
      : ran[next++]!,
  );
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

/**
 * Settles the batch in one store call. A result that JSON cannot hold (a BigInt, a cycle) would
 * fail that call for every item: then each such outcome becomes its own non-retryable failure, in
 * place in `outcomes`, and the batch is settled again. (Results are checked only after a failed
 * write, so the usual path serialises each result once.) True per item where this worker's lease
 * still held.
 */
async function writeOutcomes(
  deps: ProcessBatchDeps,
  items: readonly ClaimedItem[],
  outcomes: WorkOutcome[],
  report: BatchReport,
): Promise<boolean[]> {
  let written: boolean[];
  try {
    written = await deps.store.settleTasks(settlementsOf(items, outcomes));
  } catch (err) {
    if (!replaceUnserializable(outcomes)) throw err;
    written = await deps.store.settleTasks(settlementsOf(items, outcomes));
  }
  for (const [index, outcome] of outcomes.entries()) {
    if (!written[index]) report.stale++;
    else if (outcome.ok) report.succeeded++;
    else if (isRetry(items[index]!, outcome)) report.retried++;
    else report.failed++;
  }
  return written;
}

/** Replaces each successful outcome whose result JSON cannot hold; true if there was one. */
function replaceUnserializable(outcomes: WorkOutcome[]): boolean {
  let replaced = false;
  for (const [index, outcome] of outcomes.entries()) {
    if (!outcome.ok) continue;
    try {
      JSON.stringify(outcome.result ?? null);
    } catch (err) {
      replaced = true;
      outcomes[index] = {
        ok: false,
        retryable: false,
        error: {
          code: 'INFERQ_RESULT_UNSERIALIZABLE',
          message: `the model's result cannot be stored as JSON (${(err as Error).message}); return plain JSON values`,
        },
      };
    }
  }
  return replaced;
}

function settlementsOf(items: readonly ClaimedItem[], outcomes: readonly WorkOutcome[]): Settlement[] {
  return items.map((item, index) => {
    const outcome = outcomes[index]!;
    const base = { id: item.task.id, leaseToken: item.job.token };
    return outcome.ok
      ? {
          ...base,
          outcome: 'succeeded',
          result: outcome.result,
          ...(outcome.timing ? { timing: outcome.timing } : {}),
        }
      : { ...base, outcome: 'failed', error: outcome.error, retry: isRetry(item, outcome) };
  });
}
