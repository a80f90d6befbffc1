import type { Task } from '../../core/task.js';
import { type TaskState, taskStates } from '../../core/task-state.js';
import { cacheHit, latencySample, notTransformStep, rowToTask, type TaskRow } from '../task-rows.js';
import type { LatencyStats, StatsSummary, TargetStats } from '../task-stats.js';
import type { WebhookAttempt, WebhookOutcome } from '../webhook-deliveries.js';
import { pgTaskColumns, type Queryable } from './pg-task-sql.js';

// The side tables of the PostgreSQL task store (webhooks, stats), kept
// out of the store class so that it holds only the task state machine.

/**
 * Due deliveries come off the partial `pending` index; unfinished tasks are skipped by the join.
 * Claimed in one statement (`FOR UPDATE … SKIP LOCKED`, then `next_at` moved past the claim), so
 * hosts polling together take disjoint deliveries.
 */
export async function dueWebhooks(
  q: Queryable,
  now: number,
  limit: number,
  claimMs: number,
  excludeOwners: readonly string[],
): Promise<Task[]> {
  const { rows } = await q.query<TaskRow>(
    `WITH due AS (
       SELECT w.task_id, w.next_at FROM webhook_deliveries w JOIN tasks t ON t.id = w.task_id
       WHERE w.state = 'pending' AND w.next_at <= $1 AND t.finished_at IS NOT NULL
         AND t.owner <> ALL($4::text[])
       ORDER BY w.next_at, t.finished_at LIMIT $2
       FOR UPDATE OF w SKIP LOCKED
     ), claimed AS (
       UPDATE webhook_deliveries w SET next_at = $3 FROM due WHERE w.task_id = due.task_id
       RETURNING w.task_id, due.next_at AS due_at
     )
     SELECT ${pgTaskColumns.map((c) => `t.${c}`).join(', ')}, r.result AS result
     FROM claimed c JOIN tasks t ON t.id = c.task_id
     LEFT JOIN task_results r ON r.task_id = t.id
     ORDER BY c.due_at, t.finished_at`,
    [now, limit, now + claimMs, excludeOwners],
  );
  return rows.map(rowToTask);
}

export async function recordWebhookAttempt(
  q: Queryable,
  taskId: string,
  attempt: WebhookAttempt,
  outcome: WebhookOutcome,
): Promise<void> {
  // One statement, so the attempt and the delivery state move together without a transaction.
  await q.query(
    `WITH attempt AS (
       INSERT INTO webhook_attempts (task_id, attempt, at, status_code, error, duration_ms)
       SELECT $1::text, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM tasks WHERE id = $1::text)
     )
     UPDATE webhook_deliveries SET state = $7, attempts = attempts + 1, next_at = $8 WHERE task_id = $1::text`,
    [
      taskId,
      attempt.attempt,
      attempt.at,
      attempt.statusCode,
      attempt.error,
      attempt.durationMs,
      outcome.state,
      outcome.state === 'pending' ? outcome.nextAt : 0,
    ],
  );
}

/**
 * Counts group on the (owner|target, state) indexes; latencies are percentile_disc over the
 * window read off the finished_at index (percentile_disc picks the same element as the SQLite
 * store's nearest-rank percentile).
 */
export async function taskStats(
  q: Queryable,
  filter: { owner?: string; since: number },
): Promise<StatsSummary> {
  const ownerTerm = filter.owner === undefined ? '' : 'AND owner = $2';
  const ownerValue = filter.owner === undefined ? [] : [filter.owner];
  const counts = await q.query<{ target: string; state: TaskState; n: number }>(
    `SELECT target_name || '@' || target_version AS target, state, COUNT(*) AS n
     FROM tasks WHERE ${notTransformStep} ${filter.owner === undefined ? '' : 'AND owner = $1'}
     GROUP BY target_name, target_version, state`,
    ownerValue,
  );
  const byTarget = new Map<string, TargetStats>();
  for (const row of counts.rows) {
    let entry = byTarget.get(row.target);
    if (entry === undefined) {
      entry = {
        target: row.target,
        counts: Object.fromEntries(taskStates.map((s) => [s, 0])) as Record<TaskState, number>,
      };
      byTarget.set(row.target, entry);
    }
    entry.counts[row.state] = row.n;
  }
  const latency = (p: number) =>
    `percentile_disc(${p}) WITHIN GROUP (ORDER BY finished_at - created_at) FILTER (WHERE ${latencySample})`;
  const recent = await q.query<LatencyStats>(
    `SELECT target_name || '@' || target_version AS target, COUNT(*) AS finished,
       COUNT(*) FILTER (WHERE state = 'succeeded') AS succeeded,
       COUNT(*) FILTER (WHERE ${cacheHit}) AS "cacheHits",
       ${latency(0.5)} AS "p50Ms", ${latency(0.9)} AS "p90Ms", ${latency(0.99)} AS "p99Ms"
     FROM tasks WHERE finished_at >= $1 AND ${notTransformStep} ${ownerTerm}
     GROUP BY target_name, target_version`,
    [filter.since, ...ownerValue],
  );
  return {
    byTarget: [...byTarget.values()].sort((a, b) => a.target.localeCompare(b.target)),
    recent: recent.rows.map((row) => ({ ...row })).sort((a, b) => a.target.localeCompare(b.target)),
  };
}
