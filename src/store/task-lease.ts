import type { TaskError, TimelineEntry } from '../core/task.js';
import { statesAllowing, type TaskEvent, type TaskState } from '../core/task-state.js';
import type { ClaimRequest, TaskLease } from './task-store.js';

/**
 * The lease of a task lives on its row and nowhere else: `lease_token` (who holds it) and
 * `lease_expires_at` (until when, ms). A broker message only wakes a worker up; the row decides
 * whether that worker may run the task. So a message delivered twice (a broker that cannot dedupe
 * by id, a redelivery racing a live worker) is harmless on every broker: its claim is refused
 * while the lease is live, and the attempt count, kept on the row only, never moves for it.
 *
 * The rule is written here once; the SQLite and PostgreSQL stores run these statements, each
 * supplying only its {@link LeaseDialect}. Statements name their parameters `@name`; the
 * PostgreSQL store numbers them (`bindNamed`).
 */

/** The lease a claim takes when the caller names none: the default `broker.leaseMs`. */
export const defaultTaskLeaseMs = 30_000;

/** Where SQLite and PostgreSQL write the same thing differently. */
export interface LeaseDialect {
  /** Equality that holds for two NULLs (`IS` in SQLite, `IS NOT DISTINCT FROM` in PostgreSQL). */
  same(left: string, right: string): string;
  /** Appended to the claim's read: PostgreSQL locks the row, SQLite already holds the write lock. */
  lockRow: string;
  /** A relation `l(id, token)` of the leases to renew, read from the parameters of {@link leaseParams}. */
  leaseRows: string;
  /** The parameters `leaseRows` reads. */
  leaseParams(leases: readonly TaskLease[]): Record<string, unknown>;
  /** The larger of two values (`MAX(a, b)` in SQLite, `GREATEST(a, b)` in PostgreSQL). */
  max(left: string, right: string): string;
}

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

/** The claim's read: parameter `@id`. */
export function selectLeaseSql(d: LeaseDialect): string {
  return `SELECT state, lease_token, lease_expires_at, attempts, max_attempts, worker_id
    FROM tasks WHERE id = @id ${d.lockRow}`;
}

/** The parameters of {@link claimSql}. */
export function claimParams(id: string, request: ClaimRequest, at: number, old?: LeaseRow) {
  return {
    id,
    at,
    workerId: request.workerId,
    token: request.leaseToken,
    until: at + (request.leaseMs ?? defaultTaskLeaseMs),
    oldToken: old?.lease_token ?? null,
    error: JSON.stringify(workerLostError(old?.max_attempts ?? 0)),
  };
}

/**
 * The conditional UPDATE of a claim plan that writes (`renew`, `lease`, `take-over`,
 * `exhausted`), returning `attempts` when it applied. A take-over (or exhaustion) is fenced on
 * the token read and on the lease still being expired, so of two workers racing for one
 * expired lease exactly one wins, on either database.
 */
export function claimSql(d: LeaseDialect, plan: Exclude<ClaimPlan['kind'], 'missing' | 'final' | 'held'>) {
  const take = `state = 'running', attempts = attempts + 1, worker_id = @workerId, lease_token = @token,
    lease_expires_at = @until, updated_at = @at`;
  const expiredUnder = `${stateIn('lease-expired')} AND ${d.same('lease_token', '@oldToken')}
    AND (lease_expires_at IS NULL OR lease_expires_at <= @at)`;
  switch (plan) {
    case 'renew':
      return `UPDATE tasks SET lease_expires_at = @until
        WHERE id = @id AND state = 'running' AND lease_token = @token RETURNING attempts`;
    case 'lease':
      return `UPDATE tasks SET ${take} WHERE id = @id AND ${stateIn('lease')} RETURNING attempts`;
    case 'take-over':
      return `UPDATE tasks SET ${take} WHERE id = @id AND ${expiredUnder} RETURNING attempts`;
    case 'exhausted':
      return `UPDATE tasks SET state = 'failed', error = @error, ${endLease}, finished_at = @at, updated_at = @at
        WHERE id = @id AND ${expiredUnder} RETURNING attempts`;
  }
}

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

/**
 * Renews the leases of a batch in one statement, whatever its size: `@until` for every row still
 * running under its token; returns the ids renewed (a lease taken over or settled is not).
 */
export function renewLeasesSql(d: LeaseDialect): string {
  return `UPDATE tasks SET lease_expires_at = @until FROM ${d.leaseRows}
    WHERE tasks.id = l.id AND tasks.lease_token = l.token AND tasks.state = 'running'
    RETURNING tasks.id AS id`;
}

/**
 * The conditional writes that end an attempt, each fenced on `running` under the holder's token
 * (`@token`) and returning `attempts` when it applied. A holder whose lease expired may still
 * settle as long as nobody took it over: its token still stands, and its outcome is the truth.
 */
export const completeSql = `UPDATE tasks SET state = 'succeeded', error = NULL, ${endLease},
    finished_at = @at, updated_at = @at
  WHERE id = @id AND ${stateIn('succeed')} AND lease_token = @token RETURNING attempts`;

/** Parameters `@id`, `@at`, `@token`, `@error`; back to `queued` when `retry`, else `failed`. */
export function failSql(retry: boolean): string {
  const set = retry ? `state = 'queued'` : `state = 'failed', finished_at = @at`;
  return `UPDATE tasks SET ${set}, error = @error, ${endLease}, updated_at = @at
    WHERE id = @id AND ${stateIn(retry ? 'retry' : 'fail')} AND lease_token = @token RETURNING attempts`;
}

/** running(@token) → queued with the attempt given back (a draining worker never ran it). */
export function releaseSql(d: LeaseDialect): string {
  return `UPDATE tasks SET state = 'queued', attempts = ${d.max('attempts - 1', '0')}, ${endLease},
      updated_at = @at
    WHERE id = @id AND ${stateIn('lease-expired')} AND lease_token = @token RETURNING attempts`;
}

/** queued | running → cancelled; parameters `@id`, `@at`. */
export const cancelSql = `UPDATE tasks SET state = 'cancelled', ${endLease}, finished_at = @at, updated_at = @at
  WHERE id = @id AND ${stateIn('cancel')} RETURNING attempts`;
