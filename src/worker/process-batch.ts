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

/**
 * Runs a batch of claimed items and returns one outcome per item, in order. An item's failure
 * is its outcome; a throw fails the whole batch (see `runHandler`).
 */
export type BatchHandler = (items: readonly ClaimedItem[], signal: AbortSignal) => Promise<WorkOutcome[]>;

export interface ProcessBatchDeps {
  store: TaskStore;
  broker: Broker;
  workerId: string;
  handler: BatchHandler;
  /**
   * How long a claim holds its task's row (the lease loop renews it every third of this). By
   * default each job's own broker lease: the row's lease ends when the job's does.
   */
  leaseMs?: number;
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

/**
 * A job put back because another worker holds its task comes again this long after that lease's
 * end (clocks of hosts differ a little), and never sooner than the floor.
 */
const heldRecheckMarginMs = 100;
const heldRecheckMinMs = 50;

export interface BatchReport {
  succeeded: number;
  failed: number;
  retried: number;
  /**
   * Jobs not run: acked because their task was already final, cancelled or gone, or put back
   * until the lease of the worker that holds their task runs out (a duplicate delivery).
   */
  skipped: number;
  /** Writes the store refused because this worker's lease was no longer current. */
  stale: number;
}

/**
 * The at-least-once → exactly-once step. For each leased job: claim its task in the store under
 * the job's lease token; run the claimed ones as one batch; write each outcome with a
 * conditional transition; then ack (or nack for a retry). A crash anywhere before the ack
 * redelivers the job: the redelivered claim finds the task final and simply acks, so the
 * result is never written twice. A job whose task another worker holds under a live lease (a
 * duplicate delivery, or one that came back a moment before that lease ran out) runs nothing
 * and is put back until the lease's end: then it finds the task final (and is acked) or the
 * lease expired (and takes the task over). Dropping it instead could drop the only job of a
 * task whose worker just died.
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
  const now = Date.now();
  const claims = await store.claimTasks(
    parsed.map(({ job, taskId }) => ({
      id: taskId,
      leaseToken: job.token,
      workerId: deps.workerId,
      leaseMs: deps.leaseMs ?? Math.max(0, job.leaseExpiresAt - now),
      at: now,
    })),
  );
  const held: Array<{ job: LeasedJob; until: number }> = [];
  const lost: string[] = [];
  for (const [index, { job }] of parsed.entries()) {
    const claim = claims[index]!;
    if (claim.claimed) claimed.push({ job, task: claim.task });
    else if (claim.heldUntil !== undefined) {
      held.push({ job, until: claim.heldUntil });
      report.skipped++;
    } else {
      if (claim.task?.parent !== undefined && isFinalState(claim.task.state)) finalChildren.push(claim.task);
      toAck.push(job);
      if (claim.lost) {
        lost.push(claim.task!.id);
        report.failed++;
      } else report.skipped++;
    }
  }
  // Failed by the claim itself (its last attempt was lost): event streams hear of it now.
  if (lost.length > 0) await announceSettled(broker, lost);
  for (const { job, until } of held) {
    await broker.nack(job, {
      error: 'another worker holds this task: delivered again when its lease runs out',
      delayMs: Math.max(heldRecheckMinMs, until - Date.now() + heldRecheckMarginMs),
    });
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
      outcomes = await runHandler(deps, claimed);
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
 * The handler answers per item. One that throws for the whole batch fails every item of it with
 * that error (retried where the error is retryable): it is not run again item by item here. The
 * rule that keeps a bad input from failing its batch-mates is the model handler's, written once
 * where the model call is (model-handler.ts: a failed call is run again one input at a time).
 */
async function runHandler(deps: ProcessBatchDeps, items: ClaimedItem[]): Promise<WorkOutcome[]> {
  const signal = deps.signal ?? new AbortController().signal;
  try {
    const outcomes = await deps.handler(items, signal);
    if (outcomes.length !== items.length) {
      throw new Error(`handler returned ${outcomes.length} outcomes for ${items.length} items`);
    }
    return outcomes;
  } catch (err) {
    return items.map(() => outcomeFromError(err));
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
