import type { TaskState } from './task-state.js';

/** What a task runs: one model version or one pipeline version. */
export interface TaskTarget {
  kind: 'model' | 'pipeline';
  name: string;
  version: string;
}

/** `name@version`: the key of queues, metrics and the result cache. */
export function targetRef(target: Pick<TaskTarget, 'name' | 'version'>): string {
  return `${target.name}@${target.version}`;
}

/** A content-addressed input: the bytes live once in the blob store. */
export interface TaskInput {
  sha256: string;
  size: number;
  mediaType: string;
  /**
   * The client's name for the input (a multipart file name, an `inputs[].name`), made safe to
   * show: metadata only, never a path, and no part of the content's identity. Null when none.
   */
  name?: string | null;
}

export interface TaskError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

/** One stamped stage of a task's life (created, queued, leased, started, finished, retry…). */
export interface TimelineEntry {
  stage: string;
  /** Milliseconds since the epoch. */
  at: number;
  attempt?: number;
  data?: Record<string, unknown>;
}

/**
 * Where a child task sits in a pipeline task: the parent, the step and the item of a map step
 * (0 for a step that runs once). Child ids are derived from these (`pipelineChildId`).
 */
export interface TaskParent {
  id: string;
  stepId: string;
  itemIndex: number;
}

/** A task as clients see it. */
export interface Task {
  id: string;
  requestId: string;
  owner: string;
  target: TaskTarget;
  input: TaskInput;
  params: Record<string, unknown>;
  paramsHash: string;
  priority: number;
  state: TaskState;
  attempts: number;
  maxAttempts: number;
  error: TaskError | null;
  result: unknown;
  /** True when the result came from the result cache without running the model. */
  cached: boolean;
  callbackUrl: string | null;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
  /** The worker holding the current lease, while running. */
  workerId: string | null;
  /** Set on a step of a pipeline task (absent on tasks a client submitted). */
  parent?: TaskParent;
}

/** A task with its stage timeline (read per task, not in listings). */
export interface TaskWithTimeline extends Task {
  timeline: TimelineEntry[];
}

/** What creating a task needs; the store fills state, counters and timestamps. */
export interface NewTask {
  id?: string;
  requestId: string;
  owner: string;
  target: TaskTarget;
  input: TaskInput;
  params?: Record<string, unknown>;
  priority?: number;
  maxAttempts?: number;
  callbackUrl?: string | null;
  /** When given, the task is created already `succeeded` with this result (a cache hit). */
  cachedResult?: { result: unknown };
  /** A step of a pipeline task: create it with {@link TaskStore.createChildTasks}. */
  parent?: TaskParent;
}

/**
 * What a result cache lookup asks for: the same work submitted before by the same tenant. A new
 * version never serves an old version's result; a tenant is never answered from another
 * tenant's tasks (the answer would tell it that someone submitted that input); a pipeline's
 * steps never answer (a transform step is stored under the pipeline's own target).
 */
export interface ResultCacheKey {
  owner: string;
  target: TaskTarget;
  inputSha256: string;
  paramsHash: string;
}
