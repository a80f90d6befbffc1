import { existsSync, renameSync } from 'node:fs';
import Database from 'better-sqlite3';
import { migrateSqlite, type SqliteDatabase } from '../../sqlite/open-sqlite.js';
import { JobState } from './job-statements.js';
import { queueMigrations } from './migrations.js';

/**
 * Moving the queue of an older embedded layout (its own file, `queue.db`) into the task
 * database, where the queue now lives. The move is two steps that each can be run again, so a
 * crash at any point resumes on the next open:
 *
 * 1. {@link copyQueueFile}: one transaction in the task database copies every job, keyed by
 *    (id, queue) with `INSERT OR IGNORE`, so a second run adds nothing the first committed.
 *    Waiting, delayed and dead jobs keep their state; a leased job becomes waiting (its holder
 *    was a process of the old layout, now gone; the task row's own lease decides whether it runs
 *    again). Tenant weights and fair-share clocks come along; broadcasts do not (a control
 *    message is for processes running when it was sent).
 * 2. {@link retireQueueFile}: the file is renamed `queue.db.moved` (with its -wal/-shm, if left).
 *
 * A job acked between a first run and a resumed one is copied again: a duplicate wake-up, which
 * the task row's lease makes harmless (DESIGN.md, delivery semantics).
 */

interface OldJob {
  queue: string;
  id: string;
  tenant: string;
  state: number;
  priority: number;
  run_at: number;
  payload: string;
  attempts: number;
  max_attempts: number;
  enqueued_at: number;
  error: string | null;
  failed_at: number | null;
}

/**
 * Copies the jobs of the queue file `from` into `db` (which holds the queue's tables); returns
 * how many jobs the file held, or undefined when there is no such file.
 */
export function copyQueueFile(db: SqliteDatabase, from: string): number | undefined {
  if (!existsSync(from)) return undefined;
  let old: SqliteDatabase;
  try {
    // fileMustExist: a process that moved it meanwhile must not leave an empty file in its place.
    old = new Database(from, { fileMustExist: true });
  } catch (err) {
    if (!existsSync(from)) return undefined;
    throw err;
  }
  try {
    old.pragma('busy_timeout = 5000');
    // A file from any older version: bring it to the columns read below first.
    migrateSqlite(old, 'queue', queueMigrations);
    const jobs = old.prepare<[], OldJob>(
      `SELECT queue, id, tenant, state, priority, run_at, payload, attempts, max_attempts, enqueued_at,
              error, failed_at
         FROM jobs ORDER BY seq`,
    );
    const insertJob = db.prepare(
      `INSERT OR IGNORE INTO jobs (queue, id, tenant, state, priority, run_at, payload, attempts,
                                   max_attempts, enqueued_at, error, failed_at)
       VALUES (@queue, @id, @tenant, @state, @priority, @run_at, @payload, @attempts,
               @max_attempts, @enqueued_at, @error, @failed_at)`,
    );
    const weights = old.prepare<[], { tenant: string; weight: number }>(
      'SELECT tenant, weight FROM tenant_weights',
    );
    const insertWeight = db.prepare(
      'INSERT OR IGNORE INTO tenant_weights (tenant, weight) VALUES (@tenant, @weight)',
    );
    const tenants = old.prepare<[], { queue: string; tenant: string; last_start: number }>(
      'SELECT queue, tenant, last_start FROM queue_tenants',
    );
    const insertTenant = db.prepare(
      'INSERT OR IGNORE INTO queue_tenants (queue, tenant, last_start) VALUES (@queue, @tenant, @last_start)',
    );
    const clocks = old.prepare<[], { queue: string; vstart: number }>(
      'SELECT queue, vstart FROM queue_clocks',
    );
    const insertClock = db.prepare(
      'INSERT OR IGNORE INTO queue_clocks (queue, vstart) VALUES (@queue, @vstart)',
    );
    const now = Date.now();
    return db
      .transaction(() => {
        let n = 0;
        for (const job of jobs.iterate()) {
          n++;
          insertJob.run(
            job.state === JobState.leased ? { ...job, state: JobState.waiting, run_at: now } : job,
          );
        }
        for (const row of weights.iterate()) insertWeight.run(row);
        for (const row of tenants.iterate()) insertTenant.run(row);
        for (const row of clocks.iterate()) insertClock.run(row);
        return n;
      })
      .immediate();
  } finally {
    old.close();
  }
}

/** Renames the moved queue file (and a -wal or -shm left beside it) to `<file>.moved`. */
export function retireQueueFile(from: string): void {
  for (const suffix of ['', '-wal', '-shm']) {
    try {
      renameSync(`${from}${suffix}`, `${from}.moved${suffix}`);
    } catch (err) {
      // Not there: never written (no -wal), or another process retired it first.
      if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
    }
  }
}
