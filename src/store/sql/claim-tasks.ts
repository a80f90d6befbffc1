import type { Task } from '../../core/task.js';
import {
  type ClaimPlan,
  claimTimeline,
  defaultTaskLeaseMs,
  type LeaseRow,
  planClaim,
  workerLostError,
} from '../task-lease.js';
import type { BatchClaim, ClaimResult } from '../task-store.js';
import { batchRounds } from './batch-rounds.js';
import { stateIn } from './lease-terms.js';
import { selectTasks } from './select-tasks.js';
import type { SqlColumns, SqlDialect } from './sql-dialect.js';
import { all, type SqlProgram } from './sql-driver.js';
import { insertTimeline, type TaskTimelineEntry } from './task-timeline.js';

/**
 * Claims a batch of tasks (TaskStore.claimTasks; claimTask is a batch of one) in four statements
 * whatever the batch's size, on SQLite and PostgreSQL alike. The rule of each claim is
 * task-lease.ts's `planClaim`, decided in code from the row as read; the statements only read the
 * rows and write what was decided, each write fenced on the row still being as read:
 *
 * 1. {@link selectLeasesSql}: the lease rows of the batch, locked in id order on PostgreSQL
 *    (two batches that overlap, a lease taken over, lock in the same order: no deadlock).
 * 2. {@link claimUpdateSql}: one UPDATE of every claim that writes (renew, lease, take-over,
 *    exhausted), returning `attempts` of those that applied.
 * 3. task-timeline.ts: the `running` / `lease-expired` / `failed` entries of those applied.
 * 4. select-tasks.ts: the tasks as they now are, for the answer.
 *
 * Before, each claim ran these four statements on its own: 4 × 32 + BEGIN/COMMIT = 130 PostgreSQL
 * round trips for a batch of 32 (bench/store-round-trips.ts); now 6.
 */
export function claimTasks(d: SqlDialect, claims: readonly BatchClaim[]): () => SqlProgram<ClaimResult[]> {
  return () => claimRounds(d, claims);
}

/**
 * The lease rows of a batch. Parameters: `@ids`, a list of task ids.
 */
export function selectLeasesSql(d: SqlDialect): string {
  return `SELECT id, state, lease_token, lease_expires_at, attempts, max_attempts, worker_id
    FROM tasks WHERE ${d.inList('id', 'ids')} ORDER BY id ${d.lockRows}`;
}

const claimColumns: SqlColumns = [
  ['id', 'text'],
  ['kind', 'text'],
  ['at', 'bigint'],
  ['worker', 'text'],
  ['token', 'text'],
  ['until_at', 'bigint'],
  ['old_token', 'text'],
  ['err', 'text'],
];

/**
 * The writes of a batch's claim plans, one CASE per column. Parameters: `@c`, rows of
 * (id, kind: renew | lease | take-over | exhausted, at, worker, token, until_at, old_token, err).
 * Each kind is fenced as task-lease.ts describes: `renew` on running under the same token; `lease`
 * on a state that may be leased; `take-over` and `exhausted` on the token read (`old_token`) and
 * the lease still expired, so of two workers racing for one expired lease exactly one wins.
 * Returns (id, attempts) of the claims that applied. The fence is one CASE, not ORs of state
 * terms: those SQLite would read through the state index (every running task) instead of looking
 * each row of `c` up by id.
 */
export function claimUpdateSql(d: SqlDialect): string {
  const fresh = `c.kind IN ('lease', 'take-over')`;
  return `UPDATE tasks SET
      state = CASE c.kind WHEN 'renew' THEN tasks.state WHEN 'exhausted' THEN 'failed' ELSE 'running' END,
      attempts = CASE WHEN ${fresh} THEN tasks.attempts + 1 ELSE tasks.attempts END,
      worker_id = CASE c.kind WHEN 'renew' THEN tasks.worker_id WHEN 'exhausted' THEN NULL ELSE c.worker END,
      lease_token = CASE c.kind WHEN 'renew' THEN tasks.lease_token WHEN 'exhausted' THEN NULL ELSE c.token END,
      lease_expires_at = CASE c.kind WHEN 'exhausted' THEN NULL ELSE c.until_at END,
      error = CASE c.kind WHEN 'exhausted' THEN c.err ELSE tasks.error END,
      finished_at = CASE c.kind WHEN 'exhausted' THEN c.at ELSE tasks.finished_at END,
      updated_at = CASE c.kind WHEN 'renew' THEN tasks.updated_at ELSE c.at END
    FROM ${d.rows('c', claimColumns)}
    WHERE tasks.id = c.id AND CASE c.kind
      WHEN 'renew' THEN tasks.state = 'running' AND tasks.lease_token = c.token
      WHEN 'lease' THEN tasks.${stateIn('lease')}
      ELSE tasks.${stateIn('lease-expired')} AND ${d.same('tasks.lease_token', 'c.old_token')}
        AND (tasks.lease_expires_at IS NULL OR tasks.lease_expires_at <= c.at) END
    RETURNING tasks.id AS id, tasks.attempts AS attempts`;
}

type WritingPlan = Exclude<ClaimPlan['kind'], 'missing' | 'final' | 'held'>;

interface Planned {
  index: number;
  claim: BatchClaim;
  at: number;
  row: LeaseRow | undefined;
  plan: ClaimPlan;
}

function* claimRounds(d: SqlDialect, claims: readonly BatchClaim[]): SqlProgram<ClaimResult[]> {
  const results: ClaimResult[] = new Array(claims.length);
  for (const round of batchRounds(claims)) {
    const ids = round.map((i) => claims[i]!.id);
    const leases = yield* all<LeaseRow & { id: string }>(selectLeasesSql(d), d.listParam('ids', ids));
    const byId = new Map(leases.map((row) => [row.id, row]));
    const planned: Planned[] = round.map((index) => {
      const claim = claims[index]!;
      const at = claim.at ?? Date.now();
      const row = byId.get(claim.id);
      return { index, claim, at, row, plan: planClaim(row, claim.leaseToken, at) };
    });
    const writes = planned.filter((p) => isWriting(p.plan.kind));
    const applied = new Map<string, number>();
    if (writes.length > 0) {
      const rows = writes.map(({ claim, at, row, plan }) => [
        claim.id,
        plan.kind,
        at,
        claim.workerId,
        claim.leaseToken,
        at + (claim.leaseMs ?? defaultTaskLeaseMs),
        row?.lease_token ?? null,
        JSON.stringify(workerLostError(row?.max_attempts ?? 0)),
      ]);
      const done = yield* all<{ id: string; attempts: number }>(
        claimUpdateSql(d),
        d.rowsParam('c', claimColumns, rows),
      );
      for (const { id, attempts } of done) applied.set(id, attempts);
    }
    const entries: TaskTimelineEntry[] = writes.flatMap(({ claim, at, plan }) => {
      const attempts = applied.get(claim.id);
      if (attempts === undefined) return [];
      return claimTimeline(plan, claim, at, attempts).map((entry) => ({ id: claim.id, entry }));
    });
    yield* insertTimeline(d, entries);
    const tasks = yield* selectTasks(
      d,
      planned.filter((p) => p.plan.kind !== 'missing').map((p) => p.claim.id),
    );
    for (const p of planned) results[p.index] = answer(p, tasks.get(p.claim.id), applied.has(p.claim.id));
  }
  return results;
}

function isWriting(kind: ClaimPlan['kind']): kind is WritingPlan {
  return kind === 'renew' || kind === 'lease' || kind === 'take-over' || kind === 'exhausted';
}

/** What the caller is told of one claim, from its plan and the task as it now is. */
function answer({ plan }: Planned, task: Task | undefined, applied: boolean): ClaimResult {
  switch (plan.kind) {
    case 'missing':
      return { claimed: false, task: undefined };
    case 'final':
      return { claimed: false, task };
    case 'held':
      return { claimed: false, task, heldUntil: plan.until };
    default:
      // A write that did not apply: the task was deleted (or, on SQLite, never: the write lock is held).
      if (!applied || task === undefined) return { claimed: false, task };
      return plan.kind === 'exhausted' ? { claimed: false, task, lost: true } : { claimed: true, task };
  }
}
