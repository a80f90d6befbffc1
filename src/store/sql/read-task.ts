import type { Task, TaskWithTimeline } from '../../core/task.js';
import {
  parentColumns,
  rowToTask,
  rowToTimelineEntry,
  type TaskRow,
  type TimelineRow,
  taskColumns,
} from '../task-rows.js';
import { all, one, type SqlProgram } from './sql-driver.js';

/** One task with its result. Parameters: `@id`. */
export const selectTaskSql = `SELECT ${[...taskColumns, ...parentColumns].map((c) => `t.${c}`).join(', ')},
    r.result AS result
  FROM tasks t LEFT JOIN task_results r ON r.task_id = t.id WHERE t.id = @id`;

/** A task's timeline in order. Parameters: `@id`. */
export const selectTimelineSql =
  'SELECT stage, at, attempt, data FROM task_timeline WHERE task_id = @id ORDER BY seq';

export function* readTask(id: string): SqlProgram<Task | undefined> {
  const row = yield* one<TaskRow>(selectTaskSql, { id });
  return row === undefined ? undefined : rowToTask(row);
}

/** A task and its timeline; run it in a snapshot (SqlDriver.read) so both agree. */
export function* readTaskWithTimeline(id: string): SqlProgram<TaskWithTimeline | undefined> {
  const task = yield* readTask(id);
  if (task === undefined) return undefined;
  const rows = yield* all<TimelineRow>(selectTimelineSql, { id });
  return { ...task, timeline: rows.map(rowToTimelineEntry) };
}
