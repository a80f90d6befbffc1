import type { TaskError, TimelineEntry } from '../core/task.js';
import { statesAllowing, type TaskState } from '../core/task-state.js';
import type { ClaimRequest } from './task-store.js';

/**
 * The lease of a task lives on its row and nowhere else: `lease_token` (who holds it) and
 * `lease_expires_at` (until when, ms). A broker message only wakes a worker up; the row decides
 * whether that worker may run the task. So a message delivered twice (a broker that cannot dedupe
 * by id, a redelivery racing a live worker) is harmless on every broker: its claim is refused
 * while the lease is live, and the attempt count, kept on the row only, never moves for it.
 *
 * The rule is written here once: `planClaim` decides each claim from the row; the shared SQL state
 * machine (store/sql/: claim-tasks.ts, settle-tasks.ts, renew-leases.ts, cancel-task.ts,
 * release-task.ts, over the terms of lease-terms.ts) writes what it decided for a whole batch at
 * once, on SQLite and PostgreSQL alike. No SQL lives here.
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
