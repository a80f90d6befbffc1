import type { TimelineEntry } from '../../core/task.js';
import { toJsonText } from '../task-rows.js';
import type { Settlement } from '../task-store.js';
import { batchRounds } from './batch-rounds.js';
import { endLease, stateIn } from './lease-terms.js';
import type { SqlColumns, SqlDialect } from './sql-dialect.js';
import { all, run, type SqlProgram } from './sql-driver.js';
import { insertTimeline, type TaskTimelineEntry } from './task-timeline.js';

/**
 * Settles a batch of attempts (TaskStore.settleTasks; completeTask and failTask are batches of
 * one): successes, retries and failures, in three statements whatever the batch's size, on SQLite
 * and PostgreSQL alike:
 *
 * 1. {@link settleUpdateSql}: one UPDATE of every row still `running` under the settler's token,
 *    returning (id, attempts) of those that applied; a stale token changes nothing.
 * 2. {@link upsertResultsSql}: the results of the successes that applied.
 * 3. task-timeline.ts: their `succeeded` / `retry` / `failed` entries.
 *
 * A holder whose lease expired may still settle as long as nobody took it over: its token still
 * stands, and its outcome is the truth. Before, each item ran three statements: 3 × 32 +
 * BEGIN/COMMIT = 98 PostgreSQL round trips for a batch of 32 (bench/store-round-trips.ts); now 5.
 *
 * Results are serialised here, when the program is made, not when it runs: a result of several MB
 * must not lengthen SQLite's write lock.
 */
export function settleTasks(d: SqlDialect, settlements: readonly Settlement[]): () => SqlProgram<boolean[]> {
  const prepared = settlements.map(prepare);
  return () => settleRounds(d, prepared);
}

type SettleKind = 'succeeded' | 'retry' | 'failed';

interface Prepared {
  settlement: Settlement;
  kind: SettleKind;
  at: number;
  /** The result's JSON text (successes) or the error's (failures). */
  text: string;
}

function prepare(s: Settlement): Prepared {
  const at = s.at ?? Date.now();
  return s.outcome === 'succeeded'
    ? { settlement: s, kind: 'succeeded', at, text: toJsonText(s.result) }
    : { settlement: s, kind: s.retry ? 'retry' : 'failed', at, text: toJsonText(s.error) };
}

const settleColumns: SqlColumns = [
  ['id', 'text'],
  ['kind', 'text'],
  ['at', 'bigint'],
  ['token', 'text'],
  ['err', 'text'],
];

/**
 * Parameters: `@ids` (a list: the batch's ids, locked first in id order on PostgreSQL so that
 * overlapping batches cannot deadlock) and `@s`, rows of (id, kind: succeeded | retry | failed,
 * at, token, err: the error's JSON text or NULL). `succeeded` clears the error, `retry` goes back
 * to `queued` (finished_at untouched), `failed` is final; each ends the lease. Returns
 * (id, attempts) of the rows written. The state fence is one CASE (see claimUpdateSql: ORs would
 * send SQLite through the state index).
 */
export function settleUpdateSql(d: SqlDialect): string {
  // Where the dialect locks rows (PostgreSQL), the batch's rows are locked first, in id order;
  // SQLite's BEGIN IMMEDIATE holds the whole database already, so it skips the CTE (it cost
  // SQLite as much as the update itself).
  const locked =
    d.lockRows === ''
      ? { with: '', term: '' }
      : {
          with: `WITH locked AS (SELECT id FROM tasks WHERE ${d.inList('id', 'ids')} ORDER BY id ${d.lockRows})`,
          term: 'AND tasks.id IN (SELECT id FROM locked)',
        };
  return `${locked.with}
    UPDATE tasks SET
      state = CASE s.kind WHEN 'succeeded' THEN 'succeeded' WHEN 'retry' THEN 'queued' ELSE 'failed' END,
      error = s.err,
      finished_at = CASE s.kind WHEN 'retry' THEN tasks.finished_at ELSE s.at END,
      ${endLease}, updated_at = s.at
    FROM ${d.rows('s', settleColumns)}
    WHERE tasks.id = s.id ${locked.term} AND tasks.lease_token = s.token
      AND CASE s.kind WHEN 'succeeded' THEN tasks.${stateIn('succeed')}
        WHEN 'retry' THEN tasks.${stateIn('retry')} ELSE tasks.${stateIn('fail')} END
    RETURNING tasks.id AS id, tasks.attempts AS attempts`;
}

const resultColumns: SqlColumns = [
  ['task_id', 'text'],
  ['result', 'text'],
];

/** Parameters: `@r`, rows of (task_id, result JSON text). Inserts or replaces each task's result. */
export function upsertResultsSql(d: SqlDialect): string {
  return `INSERT INTO task_results (task_id, result)
    SELECT r.task_id, r.result FROM ${d.rows('r', resultColumns)} WHERE true ORDER BY r.n
    ON CONFLICT (task_id) DO UPDATE SET result = excluded.result`;
}

function* settleRounds(d: SqlDialect, prepared: readonly Prepared[]): SqlProgram<boolean[]> {
  const written: boolean[] = new Array(prepared.length).fill(false);
  for (const round of batchRounds(prepared.map((p) => p.settlement))) {
    const items = round.map((i) => prepared[i]!);
    const ids = items.map((p) => p.settlement.id);
    const rows = items.map(({ settlement, kind, at, text }) => [
      settlement.id,
      kind,
      at,
      settlement.leaseToken,
      kind === 'succeeded' ? null : text,
    ]);
    const done = yield* all<{ id: string; attempts: number }>(settleUpdateSql(d), {
      ...d.listParam('ids', ids),
      ...d.rowsParam('s', settleColumns, rows),
    });
    const attempts = new Map(done.map((row) => [row.id, row.attempts]));
    const applied = round.filter((i) => attempts.has(prepared[i]!.settlement.id));
    const results = applied.map((i) => prepared[i]!).filter((p) => p.kind === 'succeeded');
    if (results.length > 0) {
      yield* run(
        upsertResultsSql(d),
        d.rowsParam(
          'r',
          resultColumns,
          results.map((p) => [p.settlement.id, p.text]),
        ),
      );
    }
    const entries: TaskTimelineEntry[] = applied.map((i) => {
      const p = prepared[i]!;
      return { id: p.settlement.id, entry: timelineEntry(p, attempts.get(p.settlement.id)!) };
    });
    yield* insertTimeline(d, entries);
    for (const i of applied) written[i] = true;
  }
  return written;
}

function timelineEntry({ settlement: s, kind, at }: Prepared, attempt: number): TimelineEntry {
  if (s.outcome === 'succeeded') {
    const entry: TimelineEntry = { stage: 'succeeded', at, attempt };
    if (s.timing !== undefined) entry.data = s.timing;
    return entry;
  }
  return {
    stage: kind === 'retry' ? 'retry' : 'failed',
    at,
    attempt,
    data: { error: { code: s.error.code, message: s.error.message } },
  };
}
