import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { type CatalogEntry, isCacheable } from '../../core/model-catalog.js';
import { pipelineParamsSchema } from '../../core/pipeline-params.js';
import { isFinalState } from '../../core/task-state.js';
import { InferqError } from '../../errors/index.js';
import type { ApiContext } from '../api-context.js';
import { Query } from '../schemas/common.js';
import { PredictBody } from '../schemas/task.js';
import { inputByteLimit } from '../submit/check-input.js';
import { resolveTargets } from '../submit/resolve-targets.js';
import { taskView } from '../task-view.js';
import { predictWithoutTask } from './predict-now.js';
import { submitFromRequest } from './tasks.js';
import { waitUntilFinal } from './wait-until-final.js';

async function modelView(
  ctx: ApiContext,
  entry: CatalogEntry,
  serving: Map<string, number> | undefined,
): Promise<Record<string, unknown>> {
  const ref = `${entry.name}@${entry.version}`;
  const queue = await ctx.broker.depth(ref).catch(() => null);
  const common = {
    name: entry.name,
    version: entry.version,
    ref,
    kind: entry.kind,
    available: entry.available,
    ...(entry.unavailableReason === undefined ? {} : { unavailableReason: entry.unavailableReason }),
    description: entry.spec.description ?? null,
    queue,
    workers: serving === undefined ? null : (serving.get(ref) ?? 0),
    cache: isCacheable(entry),
  };
  if (entry.kind === 'pipeline') {
    return {
      ...common,
      steps: entry.spec.steps,
      output: entry.spec.output,
      params: pipelineParamsSchema(entry.pipeline),
    };
  }
  const spec = entry.spec;
  return {
    ...common,
    runtime: spec.runtime,
    // What a submission is held to: the model's limit, capped by the server's (blobs.maxBytes).
    input: { ...spec.input, maxBytes: inputByteLimit([entry], ctx.config.blobs.maxBytes) },
    params: spec.params ?? null,
    output: spec.output ?? null,
    batching: spec.batching ?? { maxBatchSize: 1, maxDelayMs: 0 },
    instances: spec.instances ?? 1,
    timeoutMs: spec.timeoutMs ?? null,
    maxAttempts: spec.maxAttempts ?? null,
    ...(spec.runtime === 'onnx'
      ? {
          executionProviders: spec.executionProviders ?? ['cpu'],
          fallback: spec.fallback ?? 'none',
          runsOn: [...(ctx.serving.providers().get(ref) ?? [])].sort(),
        }
      : {}),
  };
}

const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }) });

/** `/v1/models`: what can be run, with its limits and schemas; and the synchronous predict path. */
export function modelRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get('/models', { schema: { summary: 'Models and pipelines', tags: ['models'] } }, async () => {
      const serving = await ctx.serving.counts();
      return { items: await Promise.all(ctx.catalog.list().map((entry) => modelView(ctx, entry, serving))) };
    });

    app.get(
      '/models/:name',
      {
        schema: {
          summary: 'One model or pipeline (`name` or `name@version`)',
          tags: ['models'],
          params: NameParams,
        },
      },
      async (request) =>
        modelView(ctx, resolveTargets(ctx.catalog, [request.params.name])[0]!, await ctx.serving.counts()),
    );

    app.post(
      '/models/:name/predict',
      {
        schema: {
          summary: 'Submit one input and wait for the result (up to timeoutMs)',
          description:
            'Durable by default: a task is stored, queued and awaited (its id is in the answer). With `durable: false` (the JSON body field, or `?durable=false`, which multipart bodies use) the input runs on the fast path instead: straight to a warm worker, batched with other fast requests of the model, answered now; nothing is stored, the answer has no task id, a full queue is 503 INFERQ_FAST_PATH_BUSY with Retry-After, a call past `timeoutMs` is cancelled and answers 504 INFERQ_FAST_PATH_TIMEOUT, and `resend: false` asks for at most once to the model across hosts. Pipelines run durably only.',
          tags: ['models'],
          params: NameParams,
          querystring: Query({
            timeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
            durable: Type.Optional(
              Type.Boolean({
                description: 'false: run on the fast path, store nothing (also a JSON body field)',
              }),
            ),
            resend: Type.Optional(
              Type.Boolean({
                description:
                  'With durable=false. false: at most once to the model (a lost remote worker fails the call, 503 INFERQ_FAST_PATH_WORKER_LOST, instead of re-sending it); also a JSON body field',
              }),
            ),
          }),
          consumes: ['application/json', 'multipart/form-data'],
          body: { content: { 'application/json': { schema: PredictBody } } },
        },
      },
      async (request, reply) => {
        const body = request.isMultipart()
          ? undefined
          : (request.body as { durable?: boolean; resend?: boolean } | undefined);
        const timeoutMs = Math.min(
          request.query.timeoutMs ?? ctx.config.api.predictTimeoutMs,
          ctx.config.api.predictTimeoutMs,
        );
        const resend = request.query.resend ?? body?.resend;
        if ((request.query.durable ?? body?.durable) === false) {
          return predictWithoutTask(ctx, request, reply, request.params.name, {
            timeoutMs,
            ...(resend === undefined ? {} : { resend }),
          });
        }
        if (resend !== undefined) {
          throw new InferqError(
            'INFERQ_VALIDATION_FAILED',
            'resend applies to the fast path: send it with durable: false (a durable task is retried by its maxAttempts)',
            { details: { path: 'body/resend' } },
          );
        }
        const submitted = await submitFromRequest(ctx, request, [request.params.name]);
        if (submitted.tasks.length !== 1) {
          throw new InferqError('INFERQ_TOO_MANY_INPUTS', 'predict takes exactly one input', {
            details: { inputs: submitted.tasks.length, limit: 1 },
          });
        }
        const id = submitted.tasks[0]!.id;
        // Wakes when a worker announces the task settled; stops waiting if the client leaves.
        const last = await waitUntilFinal(ctx, request, reply, id, timeoutMs);
        if (reply.raw.destroyed) {
          // The client left: nobody to answer (the task keeps running; no 504 to log).
          reply.hijack();
          return;
        }
        if (last.state === 'succeeded') {
          return taskView((await ctx.store.getTask(id)) ?? last, { withResult: true });
        }
        if (isFinalState(last.state)) {
          throw new InferqError('INFERQ_TASK_FAILED', `task ${id} ${last.state}`, {
            details: { id, state: last.state, error: last.error },
          });
        }
        const unserved = submitted.warnings?.map((w) => w.message) ?? [];
        throw new InferqError(
          'INFERQ_PREDICT_TIMEOUT',
          unserved.length > 0
            ? `task ${id} did not finish within ${timeoutMs} ms: ${unserved.join('; ')}`
            : `task ${id} did not finish within ${timeoutMs} ms; it keeps running`,
          { details: { taskId: id, timeoutMs, ...(unserved.length > 0 ? { noWorker: true } : {}) } },
        );
      },
    );
  };
}
