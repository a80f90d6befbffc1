import { canonicalJson, paramsHash, sha256Hex } from '../core/hash.js';
import { newId } from '../core/ids.js';
import type { NewTask, Task, TaskError, TimelineEntry } from '../core/task.js';
import { isTaskState, type TaskState } from '../core/task-state.js';
import { InferqError } from '../errors/index.js';
import type { TaskFilter } from './task-store.js';

/** A `tasks` row as better-sqlite3 returns it; `result` only when joined from `task_results`. */
export interface TaskRow {
  id: string;
  request_id: string;
  owner: string;
  target_kind: string;
  target_name: string;
  target_version: string;
  input_sha256: string;
  input_size: number;
  input_media_type: string;
  input_name: string | null;
  params: string;
  params_hash: string;
  priority: number;
  state: string;
  attempts: number;
  max_attempts: number;
  error: string | null;
  cached: number;
  callback_url: string | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
  worker_id: string | null;
  result?: string | null;
  /** Pipeline step columns (see {@link parentColumns}); absent where an adapter does not select them. */
  parent_id?: string | null;
  step_id?: string | null;
  item_index?: number | null;
}

export interface TimelineRow {
  stage: string;
  at: number;
  attempt: number | null;
  data: string | null;
}

/**
 * Leaves out the transform steps of pipeline tasks (crop, rotate, assemble: child tasks stored
 * under the pipeline's own target, created already done, no model run) from counts and
 * latencies: an OCR page made ~25 of them, so a pipeline showed 90 'succeeded' tasks for 6
 * documents, with a latency median of 0 ms. Model steps stay: they are their model's work.
 */
export const notTransformStep = "(parent_id IS NULL OR target_kind = 'model')";

/**
 * A task served from the result cache: created already succeeded, finished at its creation
 * (0 ms). Stats count these apart (`cacheHits`, the hit rate) instead of as the fastest runs.
 */
export const cacheHit = 'cached = 1';

/**
 * The tasks latency percentiles are computed over: succeeded, with a result a worker produced.
 * Cache hits are left out: counted as 0 ms runs they dragged a model's p50 to 0 after a few
 * repeats (issue 17). Both stores (SQLite, PostgreSQL) and every stats view use this one rule.
 */
export const latencySample = `(state = 'succeeded' AND NOT ${cacheHit})`;

/**
 * The input bytes a tenant's tasks keep stored, for its storage quota: each distinct input once
 * (a blob is stored once however many of its tasks use it), pipeline steps' inputs (crops)
 * included. `owner` is the dialect's placeholder. Reads every task of the tenant (its
 * `(owner, …)` index range), so callers count at most every few seconds (api/submit/stored-bytes.ts).
 */
export const storedInputBytesSql = (owner: string) =>
  `SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes FROM (
     SELECT MAX(input_size) AS size FROM tasks WHERE owner = ${owner} GROUP BY input_sha256
   ) AS inputs`;

/** The columns a `Task` is built from. The lease token stays inside the store. */
export const taskColumns = [
  'id',
  'request_id',
  'owner',
  'target_kind',
  'target_name',
  'target_version',
  'input_sha256',
  'input_size',
  'input_media_type',
  'input_name',
  'params',
  'params_hash',
  'priority',
  'state',
  'attempts',
  'max_attempts',
  'error',
  'cached',
  'callback_url',
  'created_at',
  'updated_at',
  'finished_at',
  'worker_id',
] as const;

/**
 * The columns that tie a pipeline step to its parent task. Kept apart from `taskColumns`
 * (which other adapters bind column by column) and selected where an adapter stores them.
 */
export const parentColumns = ['parent_id', 'step_id', 'item_index'] as const;

/**
 * The row of a task about to be created, plus its serialised cached result (if any). The
 * insert statement binds these names, so the keys must match `taskColumns` and `lease_token`.
 */
export function newTaskRow(
  task: NewTask,
  at: number,
): { row: TaskRow & { lease_token: null }; result?: string } {
  const params = task.params ?? {};
  const cached = task.cachedResult !== undefined;
  const row = {
    id: task.id ?? newId(),
    request_id: task.requestId,
    owner: task.owner,
    target_kind: task.target.kind,
    target_name: task.target.name,
    target_version: task.target.version,
    input_sha256: task.input.sha256,
    input_size: task.input.size,
    input_media_type: task.input.mediaType,
    input_name: task.input.name ?? null,
    params: JSON.stringify(params),
    params_hash: paramsHash(params),
    priority: task.priority ?? 0,
    state: cached ? 'succeeded' : 'queued',
    attempts: 0,
    max_attempts: task.maxAttempts ?? 3,
    error: null,
    cached: cached ? 1 : 0,
    callback_url: task.callbackUrl ?? null,
    created_at: at,
    updated_at: at,
    finished_at: cached ? at : null,
    worker_id: null,
    lease_token: null,
    parent_id: task.parent?.id ?? null,
    step_id: task.parent?.stepId ?? null,
    item_index: task.parent?.itemIndex ?? null,
  } satisfies TaskRow & { lease_token: null };
  return cached ? { row, result: toJsonText(task.cachedResult?.result) } : { row };
}

/**
 * Maps a row to a `Task`. Without a joined `result` column (listings) `result` is left
 * `undefined`, meaning "not loaded"; a joined row with no stored result gives `null`.
 */
export function rowToTask(row: TaskRow): Task {
  if (!isTaskState(row.state)) {
    throw new InferqError(
      'INFERQ_INTERNAL',
      `task ${row.id} has an unknown state ${JSON.stringify(row.state)}`,
    );
  }
  const task: Task = {
    id: row.id,
    requestId: row.request_id,
    owner: row.owner,
    target: {
      kind: row.target_kind === 'pipeline' ? 'pipeline' : 'model',
      name: row.target_name,
      version: row.target_version,
    },
    input: {
      sha256: row.input_sha256,
      size: row.input_size,
      mediaType: row.input_media_type,
      name: row.input_name,
    },
    params: JSON.parse(row.params) as Record<string, unknown>,
    paramsHash: row.params_hash,
    priority: row.priority,
    state: row.state,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    error: row.error === null ? null : (JSON.parse(row.error) as TaskError),
    result: row.result === undefined ? undefined : row.result === null ? null : JSON.parse(row.result),
    cached: row.cached === 1,
    callbackUrl: row.callback_url,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
    workerId: row.worker_id,
  };
  if (typeof row.parent_id === 'string') {
    task.parent = { id: row.parent_id, stepId: row.step_id ?? '', itemIndex: row.item_index ?? 0 };
  }
  return task;
}

export function rowToTimelineEntry(row: TimelineRow): TimelineEntry {
  const entry: TimelineEntry = { stage: row.stage, at: row.at };
  if (row.attempt !== null) entry.attempt = row.attempt;
  if (row.data !== null) entry.data = JSON.parse(row.data) as Record<string, unknown>;
  return entry;
}

/** JSON text of a value for a TEXT column; `undefined` is stored as `null`. */
export function toJsonText(value: unknown): string {
  return JSON.stringify(value ?? null);
}

/** The states of a filter, deduplicated and sorted; undefined when the filter has none. */
export function stateList(state: TaskFilter['state']): readonly TaskState[] | undefined {
  if (state === undefined) return undefined;
  return typeof state === 'string' ? [state] : [...new Set(state)].sort();
}

/**
 * Listing cursors are `base64url(JSON [lastId, check])`, where `check` hashes the id with the
 * filter: an altered cursor, or one carried over from a listing with another filter, is
 * refused instead of silently paging through the wrong set. Not a secret: forging one only
 * pages through what the same filter already shows.
 */
export function encodeCursor(lastId: string, filter: TaskFilter): string {
  return Buffer.from(JSON.stringify([lastId, cursorCheck(lastId, filter)])).toString('base64url');
}

/** The last id of the previous page, or `INFERQ_INVALID_CURSOR`. */
export function decodeCursor(cursor: string, filter: TaskFilter): string {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    decoded = undefined;
  }
  if (
    Array.isArray(decoded) &&
    decoded.length === 2 &&
    typeof decoded[0] === 'string' &&
    decoded[1] === cursorCheck(decoded[0], filter) &&
    encodeCursor(decoded[0], filter) === cursor
  ) {
    return decoded[0];
  }
  throw new InferqError(
    'INFERQ_INVALID_CURSOR',
    'the pagination cursor was altered or comes from a listing with other filters; ' +
      'start again without a cursor, or pass nextCursor unchanged with the same filters',
  );
}

function cursorCheck(lastId: string, filter: TaskFilter): string {
  const normalised = { ...filter, state: stateList(filter.state) };
  return sha256Hex(canonicalJson([lastId, normalised])).slice(0, 16);
}

/**
 * The parent's timeline entries for the children just created: one per step, in the order the
 * steps first appear, `step-queued` for work on a model queue and `step-computed` for a step
 * created already done (a transform's output).
 */
export function stepEntries(
  created: readonly Task[],
  at: number,
): { stage: string; at: number; data: Record<string, unknown> }[] {
  const bySteps = new Map<string, Task[]>();
  for (const task of created) {
    const step = task.parent?.stepId ?? '';
    bySteps.set(step, [...(bySteps.get(step) ?? []), task]);
  }
  return [...bySteps].map(([step, tasks]) => {
    const queued = tasks[0]?.state === 'queued';
    const target = tasks[0]?.target;
    return {
      stage: queued ? 'step-queued' : 'step-computed',
      at,
      data: {
        step,
        items: tasks.length,
        ...(queued && target ? { target: `${target.name}@${target.version}` } : {}),
      },
    };
  });
}
