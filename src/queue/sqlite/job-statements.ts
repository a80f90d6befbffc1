import type Database from 'better-sqlite3';
import { newLeaseToken } from '../../core/ids.js';
import type { SqliteDatabase } from '../../sqlite/open-sqlite.js';
import type { DeadJobRow } from '../job-rows.js';

/**
 * Job states as stored. The SQL below spells them as literals (`state = 0`) on purpose: SQLite
 * only uses a partial index when the query's WHERE term matches the index's WHERE term
 * literally, and a bound parameter never does.
 */
export const JobState = { waiting: 0, delayed: 1, leased: 2, dead: 3 } as const;

/** A leased job as `nack` reads it. */
export interface LeasedRow {
  seq: number;
  queue: string;
  attempts: number;
  max_attempts: number;
}

type Stmt<Params extends unknown[], Row = unknown> = Database.Statement<Params, Row>;
type Count = Stmt<[string], { n: number }>;

/** The prepared statements of `prepareJobStatements`; each is documented there. */
export interface JobStatements {
  upsertJob: Stmt<[string, string, string, number, number, number, string, number, number]>;
  promoteDue: Stmt<[string, number]>;
  ackJob: Stmt<[string, string]>;
  extendLease: Stmt<[number, string, string]>;
  selectLeased: Stmt<[string, string], LeasedRow>;
  retryJob: Stmt<[number, number, string, number]>;
  killJob: Stmt<[string, number, number]>;
  reapExpired: Stmt<[number, number, number], { queue: string }>;
  countWaiting: Count;
  countDelayed: Count;
  countLeased: Count;
  countDead: Count;
  selectDead: Stmt<[string, number], DeadJobRow>;
  requeueDead: Stmt<[number, string, string]>;
  isLive: Stmt<[string, string], { live: number }>;
}

/**
 * Every statement the broker runs, prepared once per connection. Preparing is the expensive part
 * of a small statement in better-sqlite3; a prepared statement costs a few microseconds a row,
 * which is why per-row statements inside one transaction (ack, extend) cost about what one
 * `json_each` statement would (measured) and are simpler.
 */
export function prepareJobStatements(db: SqliteDatabase): JobStatements {
  // Not deterministic: SQLite must call it once per row, never reuse a result.
  db.function('inferq_lease_token', { deterministic: false }, newLeaseToken);
  return {
    /**
     * Insert, or do nothing when the id is live in this queue (dedupe). An id whose previous job
     * is dead is replaced by the new job: the caller asked for the work again. The revived row
     * keeps its `seq`, so it is served ahead of jobs enqueued after the original, the same place
     * in line a retry keeps.
     * Params: queue, id, tenant, state, priority, run_at, payload, max_attempts, enqueued_at.
     */
    upsertJob: db.prepare<[string, string, string, number, number, number, string, number, number]>(`
      INSERT INTO jobs (queue, id, tenant, state, priority, run_at, payload, attempts, max_attempts, enqueued_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)
      ON CONFLICT (id, queue) DO UPDATE SET
        tenant = excluded.tenant, state = excluded.state, priority = excluded.priority, run_at = excluded.run_at,
        payload = excluded.payload, attempts = 0, max_attempts = excluded.max_attempts,
        enqueued_at = excluded.enqueued_at, token = NULL, lease_expires_at = NULL,
        error = NULL, failed_at = NULL
      WHERE jobs.state = 3`),

    /**
     * Delayed jobs that are due become waiting. Run before every claim, in the same transaction:
     * a range scan of `jobs_delayed` that touches only due rows, so it costs one index seek when
     * nothing is due, however many jobs are scheduled. Keeping delayed jobs out of `jobs_ready`
     * is what lets the claim (claim-fair-share.ts) be LIMIT scans with no `run_at` filter to skip over.
     * Params: queue, now.
     */
    promoteDue: db.prepare<[string, number]>(
      'UPDATE jobs SET state = 0 WHERE queue = ? AND state = 1 AND run_at <= ?',
    ),

    /**
     * The token is cleared whenever a job leaves the leased state, so matching on it alone proves
     * the caller still holds the lease. A lease that expired but was not yet reaped or re-leased
     * still matches: the work was done, and completing it beats running it twice.
     * Params: id, token.
     */
    ackJob: db.prepare<[string, string]>('DELETE FROM jobs WHERE id = ? AND token = ?'),

    /** Params: lease_expires_at, id, token. */
    extendLease: db.prepare<[number, string, string]>(
      'UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND token = ?',
    ),

    /** Params: id, token. */
    selectLeased: db.prepare<[string, string], LeasedRow>(
      'SELECT seq, queue, attempts, max_attempts FROM jobs WHERE id = ? AND token = ?',
    ),

    /** The job waits (state 0) or is delayed (state 1) until `run_at`. Params: state, run_at, error, seq. */
    retryJob: db.prepare<[number, number, string, number]>(`
      UPDATE jobs SET state = ?, run_at = ?, error = ?, token = NULL, lease_expires_at = NULL
      WHERE seq = ?`),

    /** Params: error, failed_at, seq. */
    killJob: db.prepare<[string, number, number]>(`
      UPDATE jobs SET state = 3, error = ?, failed_at = ?, token = NULL, lease_expires_at = NULL
      WHERE seq = ?`),

    /**
     * Every queue's expired leases in one statement: a range scan of `jobs_leased`. A job with
     * attempts left waits again (its tokens die with the lease, so the old holder is fenced
     * off); one without goes dead. Returns each affected queue so in-process leasers can be woken.
     * Params: now (three times).
     */
    reapExpired: db.prepare<[number, number, number], { queue: string }>(`
      UPDATE jobs SET
        state = CASE WHEN attempts >= max_attempts THEN 3 ELSE 0 END,
        failed_at = CASE WHEN attempts >= max_attempts THEN ? END,
        run_at = ?, error = 'lease expired', token = NULL, lease_expires_at = NULL
      WHERE state = 2 AND lease_expires_at <= ?
      RETURNING queue`),

    /** Params: queue. */
    countWaiting: db.prepare<[string], { n: number }>(
      'SELECT count(*) AS n FROM jobs WHERE queue = ? AND state = 0',
    ),
    countDelayed: db.prepare<[string], { n: number }>(
      'SELECT count(*) AS n FROM jobs WHERE queue = ? AND state = 1',
    ),
    /** Scans `jobs_leased` (every queue): leased jobs are bounded by worker concurrency. */
    countLeased: db.prepare<[string], { n: number }>(
      'SELECT count(*) AS n FROM jobs WHERE state = 2 AND queue = ?',
    ),
    countDead: db.prepare<[string], { n: number }>(
      'SELECT count(*) AS n FROM jobs WHERE queue = ? AND state = 3',
    ),

    /** Newest first. Params: queue, limit. */
    selectDead: db.prepare<[string, number], DeadJobRow>(`
      SELECT id, queue, payload, attempts, error, failed_at
      FROM jobs WHERE queue = ? AND state = 3
      ORDER BY failed_at DESC LIMIT ?`),

    /**
     * A dead row and a live job never share an id (the UNIQUE index makes enqueue revive the dead
     * row instead), so matching the dead row is enough. Params: now, queue, id.
     */
    requeueDead: db.prepare<[number, string, string]>(`
      UPDATE jobs SET state = 0, attempts = 0, run_at = ?, error = NULL, failed_at = NULL
      WHERE queue = ? AND id = ? AND state = 3`),

    /** Params: id, queue. */
    isLive: db.prepare<[string, string], { live: number }>(
      'SELECT 1 AS live FROM jobs WHERE id = ? AND queue = ? AND state < 3',
    ),
  };
}
