import type { BlobStore } from '../../blobs/blob-store.js';
import type { CompiledPipeline, CompiledStep } from '../../core/check-pipeline.js';
import { defaultMaxAttempts } from '../../core/job.js';
import { pipelineChildId, pipelineLeaseToken } from '../../core/pipeline-ids.js';
import { paramsForStep } from '../../core/pipeline-params.js';
import { pipelineInputRef } from '../../core/pipeline-spec.js';
import { type NewTask, type Task, type TaskError, type TaskInput, targetRef } from '../../core/task.js';
import { taskJobsByQueue } from '../../core/task-job.js';
import { InferqError } from '../../errors/index.js';
import type { Broker } from '../../queue/broker.js';
import type { TaskStore } from '../../store/task-store.js';
import { outcomeFromError } from '../work-outcome.js';
import { PipelineChildren } from './pipeline-children.js';
import type { PixelThread } from './pipeline-pixel-worker.js';
import type { PipelinePixels } from './pipeline-pixels.js';
import { transforms } from './pipeline-transforms.js';

export interface AdvancePipelineDeps {
  store: TaskStore;
  broker: Broker;
  blobs: BlobStore;
  /** Pipelines this coordinator runs, by `name@version`. */
  pipelines: ReadonlyMap<string, CompiledPipeline>;
  workerId: string;
  /**
   * The children kept from earlier advances, so that one reads only what changed; without
   * it every advance reads every child.
   */
  children?: PipelineChildren;
  /** Decoded pixels shared with the model steps of this process (see {@link PipelinePixels}). */
  pixels?: PipelinePixels;
  /** Where the transforms' per-pixel work runs, off the event loop. */
  pixelThread?: PixelThread;
  /**
   * The store writes each created child's job in `createChildTasks` (the queue in the task
   * database: embedded, PostgreSQL alone), so the advance enqueues only changed queued children.
   */
  jobsWrittenByStore?: boolean;
}

/**
 * What one advance found or did. `started`: running, and this advance is the task's first (it
 * had no steps yet), so the task has just gone from queued to running: event streams are told.
 */
export type AdvanceResult = 'started' | 'running' | 'succeeded' | 'failed' | 'not-running';

type StepState =
  | { status: 'done'; value: unknown }
  | { status: 'pending' }
  | { status: 'failed'; error: TaskError };

/**
 * Moves one pipeline task forward from what the store holds, and is safe to run any number
 * of times, concurrently or after a crash at any point:
 * 1. claims the task `running` under the pipeline's fixed lease token (a no-op when running);
 * 2. reads its children and evaluates the steps in order: a step whose sources are all done
 *    and has no children yet gets them — a child task per item on the model's queue, or, for a
 *    built-in transform, a child created `succeeded` with the transform's output (computed
 *    here; transforms are deterministic and blobs content-addressed);
 * 3. creates the new children in one transaction with deterministic ids (a redo is a no-op)
 *    and enqueues every queued child by id (a job already live is not duplicated);
 * 4. completes the task with the output step's value once it is done, or fails it naming the
 *    first step whose item failed for good (unless the step is optional: its item becomes
 *    `null`), cancelling the children still unfinished.
 */
export async function advancePipeline(deps: AdvancePipelineDeps, parentId: string): Promise<AdvanceResult> {
  const kept = deps.children ?? new PipelineChildren(deps.store);
  try {
    const result = await advance(deps, kept, parentId);
    if (result !== 'started' && result !== 'running') kept.forget(parentId);
    return result;
  } catch (err) {
    // Whatever this advance did is left for the next one to find in the store.
    kept.forget(parentId);
    throw err;
  }
}

async function advance(
  deps: AdvancePipelineDeps,
  kept: PipelineChildren,
  parentId: string,
): Promise<AdvanceResult> {
  const { store } = deps;
  const leaseToken = pipelineLeaseToken(parentId);
  const claim = await store.claimTask(parentId, { leaseToken, workerId: deps.workerId });
  if (!claim.claimed) return 'not-running';
  const parent = claim.task;
  const pipeline = deps.pipelines.get(targetRef(parent.target));
  if (pipeline === undefined) {
    const error = new InferqError(
      'INFERQ_PIPELINE_SPEC_INVALID',
      `pipeline ${targetRef(parent.target)} is not served by this worker (it is missing or invalid)`,
    );
    await store.failTask(parentId, { leaseToken, error: errorOf(error), retry: false });
    return 'failed';
  }

  const { all: children, changed } = await kept.read(parentId);
  const byKey = new Map(children.map((c) => [`${c.parent?.stepId}/${c.parent?.itemIndex}`, c]));
  const states = new Map<string, StepState>([[pipelineInputRef, { status: 'done', value: parent.input }]]);
  const drafts: NewTask[] = [];
  for (const step of pipeline.steps) {
    const sources = step.sources.map((s) => states.get(s) ?? { status: 'pending' as const });
    if (sources.some((s) => s.status !== 'done')) {
      states.set(step.id, { status: 'pending' });
      continue;
    }
    const state = await evaluateStep(
      deps,
      parent,
      step,
      sources.map((s) => (s as { value: unknown }).value),
      byKey,
      drafts,
    );
    if (state.status === 'failed') {
      await failPipeline(store, parent, leaseToken, state.error, children);
      return 'failed';
    }
    states.set(step.id, state);
  }

  const created = drafts.length === 0 ? [] : await store.createChildTasks(parentId, drafts);
  if (created === undefined) return 'not-running'; // cancelled meanwhile: start nothing
  kept.add(parentId, created);
  // A queued child read unchanged was enqueued by the advance that read it before (an advance
  // that failed part way left nothing kept): only new and changed ones need their job.
  await enqueueQueued(deps.broker, deps.jobsWrittenByStore ? changed : [...changed, ...created]);

  const output = states.get(pipeline.output);
  if (output?.status !== 'done') return children.length === 0 ? 'started' : 'running';
  const done = await store.completeTask(parentId, {
    leaseToken,
    result: output.value,
    timing: { steps: stepSummary(pipeline, [...children, ...created]) },
  });
  return done ? 'succeeded' : 'not-running';
}

/** Evaluates one step whose sources are done; pushes the children it still needs to `drafts`. */
async function evaluateStep(
  deps: AdvancePipelineDeps,
  parent: Task,
  step: CompiledStep,
  args: readonly unknown[],
  byKey: ReadonlyMap<string, Task>,
  drafts: NewTask[],
): Promise<StepState> {
  let items: unknown[][];
  try {
    items = step.map ? zipItems(args) : [[...args]];
  } catch (err) {
    return { status: 'failed', error: stepError(step, undefined, undefined, errorOf(err)) };
  }
  const values: unknown[] = [];
  let pending = false;
  for (const [index, itemArgs] of items.entries()) {
    const child = byKey.get(`${step.id}/${index}`);
    const item = step.map ? index : undefined;
    if (child !== undefined) {
      if (child.state === 'succeeded') values.push(child.result);
      else if (child.state === 'failed' || child.state === 'cancelled') {
        if (!step.optional) {
          const cause = child.error ?? { code: 'INFERQ_CANCELLED', message: 'the step was cancelled' };
          return { status: 'failed', error: stepError(step, item, child.id, cause) };
        }
        values.push(null);
      } else {
        pending = true;
        values.push(undefined);
      }
      continue;
    }
    if (step.model !== undefined) {
      // An item an optional upstream step could not produce is skipped, not run.
      if (itemArgs[0] === null) {
        values.push(null);
        continue;
      }
      drafts.push(childDraft(parent, step, index, asBlob(itemArgs[0]) ?? parent.input));
      pending = true;
      values.push(undefined);
      continue;
    }
    try {
      const value = await transforms[step.transform!](itemArgs, {
        blobs: deps.blobs,
        ...(deps.pixels ? { pixels: deps.pixels } : {}),
        ...(deps.pixelThread ? { pixelThread: deps.pixelThread } : {}),
      });
      drafts.push({
        ...childDraft(parent, step, index, asBlob(itemArgs[0]) ?? parent.input),
        cachedResult: { result: value },
      });
      values.push(value);
    } catch (err) {
      const outcome = outcomeFromError(err);
      // A transient fault (blob store I/O) is retried with the wake-up job; bad data is final.
      if (outcome.ok || outcome.retryable) throw err;
      if (!step.optional) return { status: 'failed', error: stepError(step, item, undefined, outcome.error) };
      values.push(null);
    }
  }
  if (pending) return { status: 'pending' };
  return { status: 'done', value: step.map ? values : values[0] };
}

/** The task of item `index` of `step`: a model step's job, or a transform's stored output. */
function childDraft(parent: Task, step: CompiledStep, index: number, input: TaskInput): NewTask {
  const target =
    step.model === undefined
      ? parent.target
      : { kind: 'model' as const, name: step.model.name, version: step.model.version };
  return {
    id: pipelineChildId(parent.id, step.id, index),
    // Children carry the parent's id as their request: listing that request lists the steps,
    // and replaying the client's own request never returns them.
    requestId: parent.id,
    owner: parent.owner,
    target,
    input,
    // A transform takes no params; a model step its spec's, overridden by the task's.
    params: step.model === undefined ? {} : paramsForStep(step, parent.params),
    priority: parent.priority,
    maxAttempts: step.model?.maxAttempts ?? defaultMaxAttempts,
    parent: { id: parent.id, stepId: step.id, itemIndex: index },
  };
}

/** Items of a map step: list sources zipped by index, single values shared by every item. */
function zipItems(args: readonly unknown[]): unknown[][] {
  const lengths = new Set(args.filter(Array.isArray).map((a) => a.length));
  if (lengths.size > 1) {
    throw new InferqError(
      'INFERQ_VALIDATION_FAILED',
      `the lists this step maps over differ in length (${[...lengths].join(', ')})`,
    );
  }
  const n = [...lengths][0] ?? 0;
  return Array.from({ length: n }, (_, i) => args.map((a) => (Array.isArray(a) ? a[i] : a)));
}

function asBlob(value: unknown): TaskInput | undefined {
  const v = value as Partial<TaskInput> | null | undefined;
  return typeof v?.sha256 === 'string' && typeof v.size === 'number' && typeof v.mediaType === 'string'
    ? { sha256: v.sha256, size: v.size, mediaType: v.mediaType }
    : undefined;
}

function errorOf(err: unknown): TaskError {
  const outcome = outcomeFromError(err);
  return outcome.ok ? { code: 'INFERQ_INTERNAL', message: String(err) } : outcome.error;
}

function stepError(
  step: CompiledStep,
  item: number | undefined,
  childId: string | undefined,
  cause: TaskError,
): TaskError {
  const what = step.model ? `model ${step.model.name}@${step.model.version}` : `transform ${step.transform}`;
  const where = item === undefined ? `step "${step.id}"` : `step "${step.id}" item ${item}`;
  return {
    code: 'INFERQ_PIPELINE_STEP_FAILED',
    message: `${where} (${what}) failed: ${cause.code}: ${cause.message}`,
    details: { step: step.id, item: item ?? null, childId: childId ?? null, error: cause },
  };
}

async function failPipeline(
  store: TaskStore,
  parent: Task,
  leaseToken: string,
  error: TaskError,
  children: readonly Task[],
): Promise<void> {
  if (!(await store.failTask(parent.id, { leaseToken, error, retry: false }))) return;
  // The rest would only be wasted work: their results would never be used.
  for (const child of children) {
    if (child.state === 'queued' || child.state === 'running') await store.cancelTask(child.id);
  }
}

/** Enqueues every queued model child; the broker ignores ids that already have a live job. */
async function enqueueQueued(broker: Broker, tasks: readonly Task[]): Promise<void> {
  for (const [queue, jobs] of taskJobsByQueue(tasks, (t) => t.target.kind === 'model')) {
    await broker.enqueueMany(queue, jobs);
  }
}

/** Per step: how many items, and created → last finished in ms (the pipeline's own timing). */
function stepSummary(pipeline: CompiledPipeline, children: readonly Task[]): Record<string, unknown> {
  const summary: Record<string, unknown> = {};
  for (const step of pipeline.steps) {
    const mine = children.filter((c) => c.parent?.stepId === step.id);
    const start = Math.min(...mine.map((c) => c.createdAt));
    const end = Math.max(...mine.map((c) => c.finishedAt ?? c.updatedAt));
    summary[step.id] = { items: mine.length, ...(mine.length > 0 ? { ms: end - start } : {}) };
  }
  return summary;
}
