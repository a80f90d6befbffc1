import type { Logger } from 'pino';
import type { BlobStore } from '../../blobs/blob-store.js';
import { type CollectGarbageResult, collectGarbage } from '../../blobs/collect-garbage.js';
import type { TaskStore } from '../../store/task-store.js';
import { startPeriodic } from './periodic.js';

/** The part of the task store retention uses (so a unit test can fake just these two). */
export type RetentionTaskStore = Pick<TaskStore, 'deleteFinishedBefore' | 'referencedInputs'>;

export interface RetentionOptions {
  store: RetentionTaskStore;
  blobs: BlobStore;
  /** Final tasks (succeeded, failed, cancelled) finished longer ago than this are deleted. */
  ttlMs: number;
  /** Unreferenced blobs younger than this are kept (see {@link collectGarbage}). */
  graceMs: number;
  /** Clock reading for this run (ms since epoch); default `Date.now()`. */
  now?: number;
  /** Hashes per `referencedInputs` call. */
  batchSize?: number;
}

export interface RetentionPassResult extends CollectGarbageResult {
  deletedTasks: number;
}

/**
 * One retention pass, the "cleaner daemon" of the filesystem-queue design: delete final tasks
 * past their time to live, then the blobs no remaining task references. Tasks go first so the
 * inputs they held are collected in the same pass.
 */
export async function runRetention(options: RetentionOptions): Promise<RetentionPassResult> {
  const { store, blobs, ttlMs, graceMs } = options;
  checkDurations(options);
  const now = options.now ?? Date.now();
  const { deletedTasks } = await store.deleteFinishedBefore(now - ttlMs);
  const garbage = await collectGarbage({
    blobs,
    referenced: (sha256s) => store.referencedInputs(sha256s),
    graceMs,
    now,
    ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
  });
  return { deletedTasks, ...garbage };
}

export interface RetentionCleanerOptions extends Omit<RetentionOptions, 'now'> {
  /** Pause between the end of one pass and the start of the next. */
  intervalMs: number;
  /** Delay before the first pass (default 0: a host that restarts often still cleans). */
  initialDelayMs?: number;
  logger?: Logger;
  /** Clock (tests pass a fake). */
  now?: () => number;
}

export interface RetentionCleaner {
  /** Stops scheduling and waits for a pass in progress to finish. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Runs {@link runRetention} periodically. The next pass is scheduled only when the previous one
 * has finished, so passes never overlap however slow the store is. The timer is unref'd: the
 * cleaner alone never keeps the process alive. A failed pass is logged and the schedule goes
 * on; it never throws into the event loop.
 */
export function startRetentionCleaner(options: RetentionCleanerOptions): RetentionCleaner {
  const { intervalMs, logger } = options;
  // A bad setting fails at start-up, not as an error logged at every interval.
  checkDurations(options);
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
    throw new RangeError(`intervalMs must be a positive number, got ${intervalMs}`);
  }
  const clock = options.now ?? Date.now;
  const pass = async (): Promise<void> => {
    try {
      const result = await runRetention({
        store: options.store,
        blobs: options.blobs,
        ttlMs: options.ttlMs,
        graceMs: options.graceMs,
        now: clock(),
        ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
      });
      const changed = result.deletedTasks + result.deleted + result.tempFilesRemoved > 0;
      if (changed) logger?.info({ retention: result }, 'retention pass deleted expired data');
      else logger?.debug({ retention: result }, 'retention pass found nothing to delete');
    } catch (err) {
      logger?.error({ err }, 'retention pass failed; will retry at the next interval');
    }
  };

  return startPeriodic(pass, intervalMs, options.initialDelayMs ?? 0);
}

/** Checked before anything is deleted, so a bad `graceMs` cannot fail a pass halfway. */
function checkDurations(options: { ttlMs: number; graceMs: number }): void {
  for (const key of ['ttlMs', 'graceMs'] as const) {
    const value = options[key];
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(`${key} must be a non-negative number of milliseconds, got ${value}`);
    }
  }
}
