import type { TaskError, TimelineEntry } from '../core/task.js';
import { statesAllowing, type TaskEvent, type TaskState } from '../core/task-state.js';
import type { SqlColumns, SqlDialect } from './sql/sql-dialect.js';
import type { ClaimRequest, TaskLease } from './task-store.js';

/**
 * The lease of a task lives on its row and nowhere else: `lease_token` (who holds it) and
 * `lease_expires_at` (until when, ms). A broker message only wakes a worker up; the row decides
 * whether that worker may run the task. So a message delivered twice (a broker that cannot dedupe
 * by id, a redelivery racing a live worker) is harmless on every broker: its claim is refused
 * while the lease is live, and the attempt count, kept on the row only, never moves for it.
 *
 * The rule is written here once: `planClaim` decides each claim from the row; the shared SQL state
 * machine (store/sql/: claim-tasks.ts, settle-tasks.ts) writes what it decided for a whole batch
 * at once, on SQLite and PostgreSQL alike. Statements name their parameters `@name`.
 */

/** The lease a claim takes when the caller names none: the default `broker.leaseMs`. */
export const defaultTaskLeaseMs = 30_000;

/** What a claim reads of the row before it decides. */
export interface LeaseRow {
  state: TaskState;
  lease_token: string | null;
  lease_expires_at: number | null;
  attempts: number;
  max_attempts: number;
  worker_id: string | null;
}

/**
 * What a claim does, decided from the row alone:
 * - `missing`, `final`: nothing (ack the job);
 * - `held`: running under another token whose lease is live until `until`: refused;
 * - `renew`: running under this very token (a redelivery to the holder): the same attempt;
 * - `lease`: queued → running, attempts + 1;
 * - `take-over`: running under an expired lease with attempts left → running under this token,
 *   attempts + 1, after a `lease-expired` entry;
 * - `exhausted`: running under an expired lease, every attempt used: the last attempt was lost
 *   (its worker crashed, was killed or cut off), so the task fails `INFERQ_WORKER_LOST` instead
 *   of being handed to another worker that it may crash too.
 */
export type ClaimPlan =
  | { kind: 'missing' }
  | { kind: 'final' }
  | { kind: 'held'; until: number }
  | { kind: 'renew' }
  | { kind: 'lease' }
  | { kind: 'take-over'; old: LeaseRow }
  | { kind: 'exhausted'; old: LeaseRow };

/**
 * A lease written by code from before the row carried an expiry has none (NULL): it counts as
 * expired, as every lease did then (the broker's lease was the only one).
 */
export function leaseExpired(row: Pick<LeaseRow, 'lease_expires_at'>, at: number): boolean {
  return row.lease_expires_at === null || row.lease_expires_at <= at;
}

export function planClaim(row: LeaseRow | undefined, leaseToken: string, at: number): ClaimPlan {
  if (row === undefined) return { kind: 'missing' };
  if (row.state === 'running' && row.lease_token === leaseToken) return { kind: 'renew' };
  if (statesAllowing('lease').includes(row.state)) return { kind: 'lease' };
  if (!statesAllowing('lease-expired').includes(row.state)) return { kind: 'final' };
  if (!leaseExpired(row, at)) return { kind: 'held', until: row.lease_expires_at ?? at };
  return row.attempts >= row.max_attempts ? { kind: 'exhausted', old: row } : { kind: 'take-over', old: row };
}

/** `state IN ('queued', …)` for the states an event may start from (literals from the state machine). */
export function stateIn(event: TaskEvent | readonly TaskState[]): string {
  const states = typeof event === 'string' ? statesAllowing(event) : event;
  return `state IN (${states.map((s) => `'${s}'`).join(', ')})`;
}

/** The SET terms that end a lease (settle, fail, retry, cancel, release). */
export const endLease = 'worker_id = NULL, lease_token = NULL, lease_expires_at = NULL';

/** The timeline entries a claim that applied writes, in order. */
export function claimTimeline(
  plan: ClaimPlan,
  request: ClaimRequest,
  at: number,
  attempts: number,
): TimelineEntry[] {
  const expired = (old: LeaseRow): TimelineEntry => ({
    stage: 'lease-expired',
    at,
    attempt: old.attempts,
    data: { workerId: old.worker_id },
  });
  const running: TimelineEntry = {
    stage: 'running',
    at,
    attempt: attempts,
    data: { workerId: request.workerId },
  };
  switch (plan.kind) {
    case 'lease':
      return [running];
    case 'take-over':
      return [expired(plan.old), running];
    case 'exhausted': {
      const { code, message } = workerLostError(plan.old.max_attempts);
      return [
        expired(plan.old),
        { stage: 'failed', at, attempt: attempts, data: { error: { code, message } } },
      ];
    }
    default:
      return [];
  }
}

/** The error of a task whose every attempt ended with its worker lost. */
export function workerLostError(maxAttempts: number): TaskError {
  return {
    code: 'INFERQ_WORKER_LOST',
    message: `the task has used its ${maxAttempts} attempt(s) and the last ended without an outcome: the worker running it crashed, was killed or lost its lease (a model that crashes its process or thread on this input?)`,
  };
}

const leaseColumns: SqlColumns = [
  ['id', 'text'],
  ['token', 'text'],
];

/**
 * Renews the leases of a batch in one statement, whatever its size: `@until` for every row still
 * running under its token; returns the ids renewed (a lease taken over or settled is not).
 * Parameters: `@until`, and those of {@link renewLeasesParams}.
 */
export function renewLeasesSql(d: SqlDialect): string {
  return `UPDATE tasks SET lease_expires_at = @until FROM ${d.rows('l', leaseColumns)}
    WHERE tasks.id = l.id AND tasks.lease_token = l.token AND tasks.state = 'running'
    RETURNING tasks.id AS id`;
}

export function renewLeasesParams(d: SqlDialect, leases: readonly TaskLease[]): Record<string, unknown> {
  return d.rowsParam(
    'l',
    leaseColumns,
    leases.map((l) => [l.id, l.leaseToken]),
  );
}

/** running(@token) → queued with the attempt given back (a draining worker never ran it). */
export function releaseSql(d: SqlDialect): string {
  return `UPDATE tasks SET state = 'queued', attempts = ${d.max('attempts - 1', '0')}, ${endLease},
      updated_at = @at
    WHERE id = @id AND ${stateIn('lease-expired')} AND lease_token = @token RETURNING attempts`;
}

/** queued | running → cancelled; parameters `@id`, `@at`. */
export const cancelSql = `UPDATE tasks SET state = 'cancelled', ${endLease}, finished_at = @at, updated_at = @at
  WHERE id = @id AND ${stateIn('cancel')} RETURNING attempts`;
