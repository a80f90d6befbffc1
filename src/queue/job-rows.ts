import type { DeadJob, LeasedJob } from '../core/job.js';

/** A job as the SQL brokers' fair claim returns it (SQLite, PostgreSQL): leased, with its token and start tag. */
export interface ClaimedJobRow {
  seq: number;
  id: string;
  tenant: string;
  vstart: number;
  payload: string;
  priority: number;
  attempts: number;
  max_attempts: number;
  enqueued_at: number;
  token: string;
}

/** A dead job as the SQL brokers' `deadJobs` reads it. */
export interface DeadJobRow {
  id: string;
  queue: string;
  payload: string;
  attempts: number;
  error: string | null;
  failed_at: number;
}

/** A claimed row as the job its lease hands out. */
export function leasedJob(row: ClaimedJobRow, queue: string, leaseExpiresAt: number): LeasedJob {
  return {
    id: row.id,
    queue,
    payload: JSON.parse(row.payload) as unknown,
    priority: row.priority,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    enqueuedAt: row.enqueued_at,
    token: row.token,
    leaseExpiresAt,
  };
}

/** A dead row as `deadJobs` lists it. */
export function deadJob(row: DeadJobRow): DeadJob {
  return {
    id: row.id,
    queue: row.queue,
    payload: JSON.parse(row.payload) as unknown,
    attempts: row.attempts,
    error: row.error,
    failedAt: row.failed_at,
  };
}
