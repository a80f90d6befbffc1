import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { create as createDisposition } from 'content-disposition';
import type { FastifyRequest } from 'fastify';
import { cancelTaskMessage, controlChannel } from '../../core/control-messages.js';
import { InferqError } from '../../errors/index.js';
import { announceSettled } from '../../queue/announce-tasks.js';
import type { TaskFilter } from '../../store/task-store.js';
import type { ApiContext } from '../api-context.js';
import { IdParams, Query } from '../schemas/common.js';
import { FeedbackBody, ListTasksQuery, SubmitResponse, SubmitTasksBody, WaitQuery } from '../schemas/task.js';
import { type JsonInputs, jsonInputBytes, readMultipart, storeInput } from '../submit/read-inputs.js';
import { SubmissionBlobs } from '../submit/submission-blobs.js';
import {
  checkTaskCount,
  createSubmission,
  planSubmission,
  type StoredInput,
  type SubmissionFields,
  type SubmissionPlan,
  type SubmissionResult,
} from '../submit/submit-tasks.js';
import { stepView, taskView } from '../task-view.js';
import { ownTask, principalOf, sendError } from './route-helpers.js';
import { waitMs, waitUntilFinal } from './wait-until-final.js';

const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
});

/**
 * Submits from a JSON or multipart request. `fixedTargets` is set by predict, whose path names
 * the model. Shared by `POST /v1/tasks` and `POST /v1/models/{name}/predict`.
 */
export async function submitFromRequest(
  ctx: ApiContext,
  request: FastifyRequest,
  fixedTargets?: readonly string[],
): Promise<SubmissionResult> {
  const principal = principalOf(request);
  const key = request.headers['idempotency-key'];
  const idempotencyKey = typeof key === 'string' && key !== '' ? key : undefined;
  const owner = principal.tenant;
  const stored = new SubmissionBlobs({
    blobs: ctx.blobs,
    referenced: (sha256s) => ctx.store.referencedInputs(sha256s),
    quota: {
      owner,
      limit: async () => (await ctx.auth.getTenant(owner))?.maxStoredBytes ?? ctx.config.api.maxStoredBytes,
      storedBytes: ctx.storedBytes,
      references: async (sha256) =>
        (await ctx.store.listTasks({ owner, inputSha256: sha256 }, { limit: 1 })).items.length > 0,
    },
  });
  try {
    const result = await submit(ctx, request, principal, stored, fixedTargets, idempotencyKey);
    stored.committed();
    return result;
  } catch (err) {
    // Refused: take back the inputs it stored (never masking the refusal with a clean-up error).
    await stored.discard().then(
      (taken) => {
        if (taken.blobs > 0) request.log.debug({ taken }, 'refused submission: its stored inputs deleted');
      },
      (cleanupErr: unknown) =>
        request.log.warn(
          { err: cleanupErr },
          'refused submission: its inputs are left to garbage collection',
        ),
    );
    throw err;
  }
}

async function submit(
  ctx: ApiContext,
  request: FastifyRequest,
  principal: ReturnType<typeof principalOf>,
  stored: SubmissionBlobs,
  fixedTargets: readonly string[] | undefined,
  idempotencyKey: string | undefined,
): Promise<SubmissionResult> {
  let plan: SubmissionPlan | undefined;
  let inputs: StoredInput[];
  if (request.isMultipart()) {
    inputs = await readMultipart(ctx, stored, request, fixedTargets, (fields) => {
      plan = planSubmission(ctx, principal, fields);
      return plan.entries;
    });
  } else {
    const body = (request.body ?? {}) as JsonInputs &
      SubmissionFields & { target?: string; targets?: string[] };
    const targets = fixedTargets ?? [
      ...(body.target === undefined ? [] : [body.target]),
      ...(body.targets ?? []),
    ];
    plan = planSubmission(ctx, principal, {
      targets,
      ...(body.params === undefined ? {} : { params: body.params }),
      ...(body.priority === undefined ? {} : { priority: body.priority }),
      ...(body.callbackUrl === undefined ? {} : { callbackUrl: body.callbackUrl }),
    });
    const raw = jsonInputBytes(body);
    checkTaskCount(ctx, raw.length, plan.entries.length);
    inputs = [];
    for (const input of raw)
      inputs.push(await storeInput(ctx, stored, input.bytes, input.name, plan.entries));
  }
  return createSubmission(ctx, plan!, inputs, idempotencyKey);
}

/** `/v1/tasks`: submit, list, read, cancel, feedback. */
export function taskRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/tasks',
      {
        schema: {
          summary: 'Create tasks: N inputs × M targets, JSON or multipart (fields before files)',
          tags: ['tasks'],
          headers: IdempotencyHeaders,
          consumes: ['application/json', 'multipart/form-data'],
          body: { content: { 'application/json': { schema: SubmitTasksBody } } },
          response: { 202: SubmitResponse, 200: SubmitResponse },
        },
      },
      async (request, reply) => {
        const result = await submitFromRequest(ctx, request);
        return reply.status(result.replayed ? 200 : 202).send(result);
      },
    );

    app.get(
      '/tasks',
      {
        schema: {
          summary: "List the caller's tasks, newest first",
          tags: ['tasks'],
          querystring: ListTasksQuery,
        },
      },
      async (request) => {
        const q = request.query;
        const filter: TaskFilter = { owner: principalOf(request).tenant };
        if (q.state !== undefined) filter.state = q.state;
        if (q.target !== undefined) filter.target = q.target;
        if (q.requestId !== undefined) filter.requestId = q.requestId;
        // The steps of pipeline tasks are listed only by their pipeline task's id (their
        // requestId): elsewhere they would bury the tasks the client submitted (an OCR page makes
        // about three steps per line of text).
        else filter.topLevel = true;
        if (q.inputSha256 !== undefined) filter.inputSha256 = q.inputSha256;
        if (q.createdFrom !== undefined) filter.createdFrom = epochMs(q.createdFrom, 'createdFrom');
        if (q.createdTo !== undefined) filter.createdTo = epochMs(q.createdTo, 'createdTo');
        const { createdFrom, createdTo } = filter;
        if (createdFrom !== undefined && createdTo !== undefined && createdFrom > createdTo) {
          // Most likely swapped: an empty page would look like "no tasks then".
          const [from, to] = [createdFrom, createdTo].map((ms) => new Date(ms).toISOString());
          throw new InferqError(
            'INFERQ_VALIDATION_FAILED',
            `querystring/createdFrom (${from}) is after createdTo (${to}): the range is empty; swap them`,
            { details: { path: 'querystring/createdFrom', createdFrom, createdTo } },
          );
        }
        const page = await ctx.store.listTasks(filter, {
          ...(q.limit === undefined ? {} : { limit: q.limit }),
          ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
        });
        return { items: page.items.map((t) => taskView(t)), nextCursor: page.nextCursor ?? null };
      },
    );

    app.get(
      '/tasks/:id',
      {
        schema: {
          summary: 'A task: state, attempts, error, timeline, result when done',
          tags: ['tasks'],
          params: IdParams,
          querystring: WaitQuery,
        },
      },
      async (request, reply) => {
        const ms = waitMs(ctx, request.query.wait);
        if (ms > 0) await waitUntilFinal(ctx, request, reply, request.params.id, ms);
        const task = await ownTask(ctx, request, request.params.id);
        const webhook =
          task.callbackUrl === null ? undefined : await ctx.webhooks.getWebhookDelivery(task.id);
        const view = taskView(task, { withResult: true, webhook });
        if (task.target.kind === 'pipeline')
          view.steps = (await ctx.store.listChildTasks(task.id)).map(stepView);
        return view;
      },
    );

    app.get(
      '/tasks/:id/input',
      {
        schema: {
          summary: 'The original input bytes, with their sniffed media type',
          tags: ['tasks'],
          params: IdParams,
        },
      },
      async (request, reply) => {
        const task = await ownTask(ctx, request, request.params.id);
        const stream = await ctx.blobs.read(task.input.sha256);
        return reply
          .header('content-type', task.input.mediaType)
          .header('content-length', String(task.input.size))
          .header('x-content-type-options', 'nosniff')
          .header('content-disposition', createDisposition(task.input.name ?? undefined))
          .send(stream);
      },
    );

    app.get(
      '/tasks/:id/result',
      {
        schema: {
          summary: 'The result (404 until done, 409 when failed); ?wait= holds the request until done',
          tags: ['tasks'],
          params: IdParams,
          querystring: WaitQuery,
        },
      },
      async (request, reply) => {
        const task = await waitUntilFinal(
          ctx,
          request,
          reply,
          request.params.id,
          waitMs(ctx, request.query.wait),
        );
        if (task.state === 'succeeded') return { id: task.id, cached: task.cached, result: task.result };
        if (task.state === 'failed' || task.state === 'cancelled') {
          throw new InferqError('INFERQ_TASK_FAILED', `task ${task.id} is ${task.state}; it has no result`, {
            details: { id: task.id, state: task.state, error: task.error },
          });
        }
        // Not ready is what every poll before the end gets: answered, not thrown (no stack trace).
        const message = `task ${task.id} is ${task.state}; no result yet`;
        return sendError(reply, 'INFERQ_RESULT_NOT_READY', message, { id: task.id, state: task.state });
      },
    );

    app.delete(
      '/tasks/:id',
      {
        schema: {
          summary: 'Cancel a task; with purge=true also delete it, its input (if unshared) and result',
          tags: ['tasks'],
          params: IdParams,
          querystring: Query({ purge: Type.Optional(Type.Boolean({ default: false })) }),
        },
      },
      async (request) => {
        const task = await ownTask(ctx, request, request.params.id);
        let state = task.state;
        if (task.state === 'queued' || task.state === 'running') {
          const cancelled = await ctx.store.cancelTask(task.id, ctx.clock());
          if (cancelled !== undefined) {
            state = 'cancelled';
            // A running task is stopped by its worker; a queued one's job is acked unrun when leased.
            if (task.state === 'running')
              await ctx.broker.publish(controlChannel, cancelTaskMessage(task.id));
            // Event streams on this and other API hosts see the cancel now, not on their next poll.
            ctx.wakeups.notify([task.id]);
            await announceSettled(ctx.broker, [task.id]);
          }
        } else if (request.query.purge !== true) {
          throw new InferqError('INFERQ_TASK_STATE_CONFLICT', `task ${task.id} is already ${task.state}`, {
            details: { id: task.id, state: task.state },
          });
        }
        if (request.query.purge === true) {
          await ctx.store.deleteTask(task.id);
          const stillUsed = await ctx.store.referencedInputs([task.input.sha256]);
          if (!stillUsed.has(task.input.sha256)) await ctx.blobs.delete(task.input.sha256);
          return { id: task.id, state, purged: true };
        }
        return { id: task.id, state, purged: false };
      },
    );

    app.post(
      '/tasks/:id/feedback',
      {
        schema: {
          summary: "Store the user's feedback on a result (e.g. the candidate they chose)",
          tags: ['tasks'],
          params: IdParams,
          body: FeedbackBody,
        },
      },
      async (request, reply) => {
        const task = await ownTask(ctx, request, request.params.id);
        await ctx.feedback.addFeedback(task.id, { feedback: request.body.feedback, at: ctx.clock() });
        return reply.status(201).send({ id: task.id, feedback: await ctx.feedback.listFeedback(task.id) });
      },
    );
  };
}

/** A listing's time bound as milliseconds since the epoch (the schema admits ms or a date-time). */
function epochMs(time: number | string, name: string): number {
  const ms = typeof time === 'number' ? time : Date.parse(time);
  // A date-time of the right form may still name no instant (a leap second, 23:59:60).
  if (Number.isNaN(ms)) {
    throw new InferqError(
      'INFERQ_VALIDATION_FAILED',
      `querystring/${name} is not a date-time a clock can show`,
      {
        details: { path: `querystring/${name}` },
      },
    );
  }
  return ms;
}
