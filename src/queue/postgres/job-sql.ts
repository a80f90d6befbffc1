import { newId } from '../../core/ids.js';
import type { PgStatement } from '../../postgres/pg-task-jobs.js';
import type { CheckedJob } from '../check-job-input.js';

/**
 * The PostgreSQL broker's statements other than the claim (claim-jobs-sql.ts): each one
 * statement, so each is atomic on its own and costs one round trip. States as in
 * broker-migrations.ts (0 waiting, 1 delayed, 2 leased, 3 dead), spelt as literals so that the
 * planner matches the partial indexes under generic plans too. A statement that makes a job
 * ready sends the queue's wake-up (`pg_notify(channel, 'j' || queue)`) in the same statement:
 * it is delivered at commit, never for work that was rolled back.
 */

/**
 * Inserts a batch (ids unique within it: the broker drops repeats first), or does nothing for
 * an id that is live in the queue (dedupe). An id whose previous job is dead is replaced by the
 * new job, which keeps the dead row's `seq` (its place in line), as on SQLite. Tenants' weights
 * given in the batch are set; leasers are woken when a ready job went in.
 * Params: $1 queue, $2 ids, $3 tenants, $4 states, $5 priorities, $6 run_at, $7 payloads,
 * $8 max_attempts, $9 enqueued_at, $10 weight tenants, $11 weights, $12 channel.
 */
export const enqueueSql = `
  WITH input AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::smallint[], $5::bigint[], $6::bigint[], $7::text[], $8::int[])
      WITH ORDINALITY AS i (id, tenant, state, priority, run_at, payload, max_attempts, ord)
  ),
  inserted AS (
    INSERT INTO broker_jobs (queue, id, tenant, state, priority, run_at, payload, attempts, max_attempts, enqueued_at)
    SELECT $1::text, id, tenant, state, priority, run_at, payload, 0, max_attempts, $9 FROM input ORDER BY ord
    ON CONFLICT (id, queue) DO UPDATE SET
      tenant = excluded.tenant, state = excluded.state, priority = excluded.priority,
      run_at = excluded.run_at, payload = excluded.payload, attempts = 0,
      max_attempts = excluded.max_attempts, enqueued_at = excluded.enqueued_at, token = NULL,
      lease_expires_at = NULL, vstart = NULL, error = NULL, failed_at = NULL
    WHERE broker_jobs.state = 3
    RETURNING state
  ),
  weights AS (
    INSERT INTO broker_tenant_weights (tenant, weight)
    SELECT * FROM unnest($10::text[], $11::float8[]) ORDER BY 1
    ON CONFLICT (tenant) DO UPDATE SET weight = excluded.weight
    WHERE broker_tenant_weights.weight <> excluded.weight
  )
  SELECT pg_notify($12, 'j' || $1::text) FROM (SELECT 1 FROM inserted WHERE state = 0 LIMIT 1) ready`;

/** Job states as `broker_jobs.state` holds them (broker-migrations.ts). */
export const JobState = { waiting: 0, delayed: 1 } as const;

/** One {@link enqueueSql} for a batch of checked jobs of `queue`: what it runs and what it writes. */
export interface EnqueueStatement {
  statement: PgStatement;
  /** Every job's id, in batch order (generated where the job had none). */
  ids: string[];
  /** Whether a job went in ready to lease (not delayed): the statement then wakes leasers. */
  ready: boolean;
}

/**
 * The enqueue of `jobs` (checked: check-job-input.ts) on `queue` as one statement: both
 * `PostgresBroker.enqueueMany` and the jobs a task store writes in its own transaction
 * (`PostgresBroker.taskJobStatements`) run this, so the two write the same rows.
 */
export function enqueueStatement(
  queue: string,
  jobs: readonly CheckedJob[],
  now: number,
  channel: string,
): EnqueueStatement {
  const ids = jobs.map((job) => job.id ?? newId());
  // One row per id: a repeat within the batch is a no-op like any enqueue of a live id (and
  // ON CONFLICT may not touch one row twice in a statement).
  const first = new Map<string, number>();
  ids.forEach((id, i) => {
    if (!first.has(id)) first.set(id, i);
  });
  const rows = [...first.values()].map((i) => jobs[i]!);
  // The latest weight given for a tenant in the batch is the one kept.
  const weights = new Map<string, number>();
  for (const job of jobs) if (job.weight !== undefined) weights.set(job.tenant, job.weight);
  const values = [
    queue,
    [...first.keys()],
    rows.map((r) => r.tenant),
    rows.map((r) => (r.delayMs > 0 ? JobState.delayed : JobState.waiting)),
    rows.map((r) => r.priority),
    rows.map((r) => (r.delayMs > 0 ? now + r.delayMs : now)),
    rows.map((r) => r.payload),
    rows.map((r) => r.maxAttempts),
    now,
    [...weights.keys()],
    [...weights.values()],
    channel,
  ];
  return { statement: { text: enqueueSql, values }, ids, ready: rows.some((r) => !(r.delayMs > 0)) };
}

/**
 * Delayed jobs that are due become waiting: a range scan of `broker_jobs_delayed` over the due
 * rows only. Params: $1 queue, $2 now, $3 channel.
 */
export const promoteDueSql = `
  WITH due AS (
    UPDATE broker_jobs SET state = 0 WHERE queue = $1::text AND state = 1 AND run_at <= $2 RETURNING 1
  )
  SELECT pg_notify($3, 'j' || $1::text) FROM (SELECT 1 FROM due LIMIT 1) any_due`;

/**
 * The token is cleared whenever a job leaves the leased state, so matching on it proves the
 * caller still holds the lease (an expired lease not yet reaped or re-leased still matches: the
 * work was done, and completing it beats running it twice). Params: $1 ids, $2 tokens.
 */
export const ackSql = `
  DELETE FROM broker_jobs j USING unnest($1::text[], $2::text[]) AS l (id, token)
  WHERE j.id = l.id AND j.token = l.token`;

/** Params: $1 ids, $2 tokens, $3 lease expiry. Returns the extended ids. */
export const extendSql = `
  UPDATE broker_jobs j SET lease_expires_at = $3
  FROM unnest($1::text[], $2::text[]) AS l (id, token)
  WHERE j.id = l.id AND j.token = l.token
  RETURNING j.id`;

/** The lease being nacked, locked for the rest of the nack's transaction. Params: $1 id, $2 token. */
export const selectLeasedSql = `
  SELECT seq, queue, attempts, max_attempts FROM broker_jobs WHERE id = $1 AND token = $2 FOR UPDATE`;

/**
 * Back to waiting (state 0, woken) or delayed (1) until `run_at`.
 * Params: $1 seq, $2 state, $3 run_at, $4 error, $5 channel.
 */
export const retrySql = `
  WITH retried AS (
    UPDATE broker_jobs SET state = $2, run_at = $3, error = $4, token = NULL, lease_expires_at = NULL
    WHERE seq = $1 RETURNING queue, state
  )
  SELECT pg_notify($5, 'j' || queue) FROM retried WHERE state = 0`;

/** Params: $1 seq, $2 error, $3 failed_at. */
export const killSql = `
  UPDATE broker_jobs SET state = 3, error = $2, failed_at = $3, token = NULL, lease_expires_at = NULL
  WHERE seq = $1`;

/**
 * Every queue's expired leases: a range scan of `broker_jobs_leased`, rows that another reaper
 * (another host) holds right now skipped rather than waited for, so each expired lease is reaped
 * by exactly one. A job with attempts left waits again (its token dies with the lease, which
 * fences the old holder off); one without goes dead. Wakes each queue that got work back.
 * Params: $1 now, $2 channel. Returns the number reaped.
 */
export const reapExpiredSql = `
  WITH expired AS (
    SELECT seq FROM broker_jobs WHERE state = 2 AND lease_expires_at <= $1
    FOR UPDATE SKIP LOCKED
  ),
  reaped AS (
    UPDATE broker_jobs j SET
      state = CASE WHEN j.attempts >= j.max_attempts THEN 3 ELSE 0 END,
      failed_at = CASE WHEN j.attempts >= j.max_attempts THEN $1 END,
      run_at = $1, error = 'lease expired', token = NULL, lease_expires_at = NULL
    FROM expired WHERE j.seq = expired.seq
    RETURNING j.queue, j.state
  ),
  woken AS (
    SELECT pg_notify($2, 'j' || queue) FROM (SELECT DISTINCT queue FROM reaped WHERE state = 0) q
  )
  SELECT (SELECT count(*) FROM reaped)::int AS reaped, (SELECT count(*) FROM woken)::int AS woken`;

/**
 * One statement, four counts, each from its partial index. Leased jobs are counted across
 * `broker_jobs_leased` (every queue): they are bounded by worker concurrency. Params: $1 queue.
 */
export const depthSql = `
  SELECT
    (SELECT count(*) FROM broker_jobs WHERE queue = $1::text AND state = 0)::int AS waiting,
    (SELECT count(*) FROM broker_jobs WHERE queue = $1::text AND state = 1)::int AS delayed,
    (SELECT count(*) FROM broker_jobs WHERE state = 2 AND queue = $1::text)::int AS leased,
    (SELECT count(*) FROM broker_jobs WHERE queue = $1::text AND state = 3)::int AS dead`;

/** Newest first. Params: $1 queue, $2 limit. */
export const selectDeadSql = `
  SELECT id, queue, payload, attempts, error, failed_at FROM broker_jobs
  WHERE queue = $1 AND state = 3 ORDER BY failed_at DESC LIMIT $2`;

/**
 * A dead row and a live job never share an id (enqueue revives the dead row instead), so
 * matching the dead row is enough. Params: $1 queue, $2 id, $3 now, $4 channel.
 */
export const requeueDeadSql = `
  WITH requeued AS (
    UPDATE broker_jobs SET state = 0, attempts = 0, run_at = $3, error = NULL, failed_at = NULL
    WHERE queue = $1::text AND id = $2 AND state = 3 RETURNING 1
  )
  SELECT (SELECT count(*) FROM requeued)::int AS n,
         (SELECT count(*) FROM (SELECT pg_notify($4, 'j' || $1::text) FROM requeued) w)::int AS woken`;

/** Params: $1 id, $2 queue. */
export const isLiveSql = 'SELECT 1 FROM broker_jobs WHERE id = $1 AND queue = $2 AND state < 3';
