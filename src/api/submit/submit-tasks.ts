import type { BlobInfo } from '../../blobs/blob-store.js';
import { canonicalJson, paramsHash, sha256Hex } from '../../core/hash.js';
import { newId } from '../../core/ids.js';
import { defaultMaxAttempts } from '../../core/job.js';
import { type CatalogEntry, isCacheable } from '../../core/model-catalog.js';
import { checkPipelineParams } from '../../core/pipeline-params.js';
import type { NewTask, Task } from '../../core/task.js';
import { targetRef } from '../../core/task.js';
import { isFinalState } from '../../core/task-state.js';
import { InferqError } from '../../errors/index.js';
import type { ApiContext } from '../api-context.js';
import type { Principal } from '../auth/principal.js';
import type { NoWorkerWarning } from '../serving-workers.js';
import { checkCallbackUrl } from '../webhooks/callback-url.js';
import { resolveTargets } from './resolve-targets.js';

/** What a submission asks for, before any input byte is read. */
export interface SubmissionFields {
  targets: readonly string[];
  params?: Record<string, unknown>;
  priority?: number;
  callbackUrl?: string;
}

/** A checked submission: targets resolved, params valid, callback allowed. */
export interface SubmissionPlan {
  owner: string;
  entries: CatalogEntry[];
  params: Record<string, unknown>;
  priority: number;
  callbackUrl: string | null;
}

export interface StoredInput {
  blob: BlobInfo;
  /** The client's file name: metadata only, never used as a path. */
  name: string | null;
}

export interface SubmissionResult {
  requestId: string;
  replayed: boolean;
  tasks: Array<{
    id: string;
    target: string;
    state: Task['state'];
    cached: boolean;
    inputSha256: string;
    inputName: string | null;
  }>;
  /** Targets of unfinished tasks that no live worker serves now (absent when there are none). */
  warnings?: NoWorkerWarning[];
}

/** Everything that can be refused without reading inputs is refused here, before any is stored. */
export function planSubmission(
  ctx: ApiContext,
  principal: Principal,
  fields: SubmissionFields,
): SubmissionPlan {
  if (fields.targets.length === 0) {
    throw new InferqError(
      'INFERQ_VALIDATION_FAILED',
      'body/target name at least one model or pipeline (target or targets)',
      {
        details: { path: 'body/target' },
      },
    );
  }
  const entries = resolveTargets(ctx.catalog, fields.targets);
  const params = fields.params ?? {};
  for (const entry of entries) ctx.paramsValidator.check(entry, params);
  const plan: SubmissionPlan = {
    owner: principal.tenant,
    entries,
    params,
    priority: fields.priority ?? 0,
    callbackUrl:
      fields.callbackUrl === undefined
        ? null
        : checkCallbackUrl(fields.callbackUrl, ctx.config.api.allowPrivateCallbacks),
  };
  // A pipeline's per-step params (`steps.<id>`) against its steps' model schemas: a bad one is
  // a 400 naming the step's JSON path.
  for (const entry of entries) if (entry.kind === 'pipeline') checkPipelineParams(entry.pipeline, params);
  return plan;
}

/** N inputs × M targets must stay within the per-request limit (413 names it). */
export function checkTaskCount(ctx: ApiContext, inputs: number, targets: number): void {
  const limit = ctx.config.api.maxTasksPerRequest;
  if (inputs * targets > limit) {
    throw new InferqError(
      'INFERQ_TOO_MANY_INPUTS',
      `${inputs} inputs × ${targets} targets = ${inputs * targets} tasks; one request may create at most ${limit}`,
      { details: { inputs, targets, tasks: inputs * targets, limit } },
    );
  }
}

/**
 * Creates the N×M tasks of a submission in one store transaction (shared with concurrent
 * submissions, see TaskWriter), then enqueues the ones the result cache could not answer.
 */
export async function createSubmission(
  ctx: ApiContext,
  plan: SubmissionPlan,
  inputs: readonly StoredInput[],
  idempotencyKey: string | undefined,
): Promise<SubmissionResult> {
  if (inputs.length === 0) {
    throw new InferqError(
      'INFERQ_INPUT_EMPTY',
      'the request has no inputs: send text, data, inputs or files',
    );
  }
  checkTaskCount(ctx, inputs.length, plan.entries.length);
  const requestId = newId();

  if (idempotencyKey !== undefined) {
    const fingerprint = sha256Hex(
      canonicalJson({
        targets: plan.entries.map((e) => `${e.name}@${e.version}`),
        params: plan.params,
        priority: plan.priority,
        callbackUrl: plan.callbackUrl,
        inputs: inputs.map((i) => i.blob.sha256),
      }),
    );
    const claim = await ctx.idempotencyKeys.claimIdempotencyKey({
      owner: plan.owner,
      key: idempotencyKey,
      fingerprint,
      requestId,
      createdAt: ctx.clock(),
    });
    if (!claim.claimed) {
      if (claim.existing.fingerprint !== fingerprint) {
        throw new InferqError(
          'INFERQ_IDEMPOTENCY_CONFLICT',
          'this Idempotency-Key was already used with a different request body',
          { details: { idempotencyKey, requestId: claim.existing.requestId } },
        );
      }
      return withWarnings(ctx, plan, await replay(ctx, plan.owner, claim.existing.requestId));
    }
  }

  let result: SubmissionResult;
  try {
    result = await create(ctx, plan, inputs, requestId);
  } catch (err) {
    if (idempotencyKey !== undefined)
      await ctx.idempotencyKeys.releaseIdempotencyKey(plan.owner, idempotencyKey);
    throw err;
  }
  return withWarnings(ctx, plan, result);
}

/** Adds a warning for each target whose unfinished tasks no live worker would run now. */
async function withWarnings(
  ctx: ApiContext,
  plan: SubmissionPlan,
  result: SubmissionResult,
): Promise<SubmissionResult> {
  const waiting = new Set(result.tasks.filter((t) => !isFinalState(t.state)).map((t) => t.target));
  if (waiting.size === 0) return result;
  const warnings = await ctx.serving.warnings(plan.entries.filter((e) => waiting.has(targetRef(e))));
  return warnings.length === 0 ? result : { ...result, warnings };
}

async function create(
  ctx: ApiContext,
  plan: SubmissionPlan,
  inputs: readonly StoredInput[],
  requestId: string,
): Promise<SubmissionResult> {
  await checkQueueLimit(ctx, plan.owner, inputs.length * plan.entries.length);
  const hash = paramsHash(plan.params);
  const drafts: NewTask[] = [];
  for (const input of inputs) {
    for (const entry of plan.entries) {
      const target = { kind: entry.kind, name: entry.name, version: entry.version };
      const cached = isCacheable(entry)
        ? await ctx.store.getCachedResult({
            owner: plan.owner,
            target,
            inputSha256: input.blob.sha256,
            paramsHash: hash,
          })
        : undefined;
      drafts.push({
        requestId,
        owner: plan.owner,
        target,
        input: {
          sha256: input.blob.sha256,
          size: input.blob.size,
          mediaType: input.blob.mediaType,
          name: input.name,
        },
        params: plan.params,
        priority: plan.priority,
        maxAttempts: (entry.kind === 'model' ? entry.spec.maxAttempts : undefined) ?? defaultMaxAttempts,
        callbackUrl: plan.callbackUrl,
        ...(cached === undefined ? {} : { cachedResult: { result: cached.result } }),
      });
    }
  }
  const tasks = await ctx.taskWriter.write(drafts);
  for (const task of tasks)
    ctx.metrics.tasksSubmitted.inc({ target: targetRef(task.target), cached: String(task.cached) });
  return {
    requestId,
    replayed: false,
    tasks: tasks.map(summary),
  };
}

async function checkQueueLimit(ctx: ApiContext, owner: string, adding: number): Promise<void> {
  const tenant = await ctx.auth.getTenant(owner);
  const limit = tenant?.maxQueuedTasks ?? ctx.config.api.maxQueuedTasks;
  if (adding > limit) {
    // Waiting cannot help: even an empty queue would not take it. A 429 would be retried forever.
    throw new InferqError(
      'INFERQ_TOO_MANY_INPUTS',
      `this request creates ${adding} tasks, and tenant ${owner} may have at most ${limit} queued: split it into requests of at most ${limit}`,
      { details: { limit, tasks: adding, queuedLimit: true } },
    );
  }
  const { ok, queued } = await ctx.queuedCounts.reserve(
    owner,
    adding,
    limit,
    async () => (await ctx.store.countTasks({ owner, state: 'queued' })).queued,
  );
  if (!ok) {
    throw new InferqError(
      'INFERQ_QUEUE_LIMIT_REACHED',
      `tenant ${owner} has ${queued} queued tasks; the limit is ${limit} (this request adds ${adding})`,
      { details: { queued, adding, limit, retryAfterMs: 5_000 } },
    );
  }
}

async function replay(ctx: ApiContext, owner: string, requestId: string): Promise<SubmissionResult> {
  const tasks: Task[] = [];
  let cursor: string | undefined;
  do {
    const page = await ctx.store.listTasks(
      { owner, requestId },
      { limit: 1_000, ...(cursor ? { cursor } : {}) },
    );
    tasks.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  // Listings are newest first; a submission reads best in the order it was made.
  tasks.sort((a, b) => (a.id < b.id ? -1 : 1));
  return { requestId, replayed: true, tasks: tasks.map(summary) };
}

function summary(task: Task): SubmissionResult['tasks'][number] {
  return {
    id: task.id,
    target: targetRef(task.target),
    state: task.state,
    cached: task.cached,
    inputSha256: task.input.sha256,
    inputName: task.input.name ?? null,
  };
}
