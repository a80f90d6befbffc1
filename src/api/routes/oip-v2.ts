import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { CatalogEntry } from '../../core/model-catalog.js';
import type { ModelSpec } from '../../core/model-spec.js';
import { InferqError } from '../../errors/index.js';
import type { ApiContext } from '../api-context.js';

type ModelEntry = Extract<CatalogEntry, { kind: 'model' }>;

const ModelParams = Type.Object({ model: Type.String({ minLength: 1, maxLength: 100 }) });
const VersionParams = Type.Object({
  model: Type.String({ minLength: 1, maxLength: 100 }),
  version: Type.String({ minLength: 1, maxLength: 32 }),
});

/**
 * The model a v2 path names, at its version or the latest. Only models that declare `tensors`
 * are v2 models: a pipeline, or a model without a signature, has no tensors a v2 client could
 * send, so it is as unknown to /v2 as a missing one (404), with a message that says which.
 */
function v2Model(
  ctx: ApiContext,
  model: string,
  version?: string,
): ModelEntry & { tensors: NonNullable<ModelSpec['tensors']> } {
  const ref = version === undefined ? model : `${model}@${version}`;
  const entry = ctx.catalog.resolve(ref);
  if (entry === undefined || entry.kind !== 'model') {
    throw new InferqError(
      'INFERQ_MODEL_NOT_FOUND',
      version === undefined ? `no model named ${model}` : `no model ${model} at version ${version}`,
      { details: { model, ...(version === undefined ? {} : { version }) } },
    );
  }
  const tensors = entry.spec.tensors;
  if (tensors === undefined) {
    throw new InferqError(
      'INFERQ_OIP_NO_SIGNATURE',
      `model ${entry.name}@${entry.version} declares no tensor signature (model.yaml key 'tensors'), so /v2 cannot serve it; use /v1/models/${entry.name}/predict`,
      { details: { model: entry.name, version: entry.version } },
    );
  }
  return { ...entry, tensors };
}

function metadata(entry: ReturnType<typeof v2Model>): Record<string, unknown> {
  return {
    name: entry.name,
    versions: [entry.version],
    platform: `inferq_${entry.spec.runtime}`,
    inputs: entry.tensors.inputs,
    outputs: entry.tensors.outputs,
  };
}

/**
 * `/v2/models/...`: the Open Inference Protocol (KServe v2, as Triton serves it) view of the
 * bundled models, so that clients written for Triton or KServe can find and call them.
 * Authenticated as /v1 is.
 */
export function oipV2Routes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['oip-v2'];
    app.get(
      '/v2/models/:model',
      { schema: { summary: 'Model metadata (Open Inference Protocol)', tags, params: ModelParams } },
      async (request) => metadata(v2Model(ctx, request.params.model)),
    );
    app.get(
      '/v2/models/:model/versions/:version',
      { schema: { summary: 'Model metadata at a version', tags, params: VersionParams } },
      async (request) => metadata(v2Model(ctx, request.params.model, request.params.version)),
    );

    const readiness = async (entry: ReturnType<typeof v2Model>) => {
      // Ready = loadable and, where workers are registered, served by a live one (none: a call would
      // wait for a worker).
      const serving = await ctx.serving.counts();
      const served = serving === undefined || (serving.get(`${entry.name}@${entry.version}`) ?? 0) > 0;
      return { name: entry.name, version: entry.version, ready: entry.available && served };
    };
    app.get(
      '/v2/models/:model/ready',
      {
        schema: {
          summary: 'Model readiness: available and served by a live worker',
          tags,
          params: ModelParams,
        },
      },
      async (request, reply) => {
        const view = await readiness(v2Model(ctx, request.params.model));
        return reply.status(view.ready ? 200 : 503).send(view);
      },
    );
    app.get(
      '/v2/models/:model/versions/:version/ready',
      { schema: { summary: 'Model readiness at a version', tags, params: VersionParams } },
      async (request, reply) => {
        const view = await readiness(v2Model(ctx, request.params.model, request.params.version));
        return reply.status(view.ready ? 200 : 503).send(view);
      },
    );
  };
}
