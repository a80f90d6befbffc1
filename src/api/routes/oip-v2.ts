import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CatalogEntry } from '../../core/model-catalog.js';
import type { ModelSpec } from '../../core/model-spec.js';
import { InferqError } from '../../errors/index.js';
import { type DecodedRequest, decodeInferRequest } from '../../runtime/kserve-v2-request.js';
import { encodeInferResponse } from '../../runtime/kserve-v2-response.js';
import type { PredictParams } from '../../runtime/runtime.js';
import type { ApiContext } from '../api-context.js';
import { predictNow } from '../fast-predict.js';
import { modelInputBytes, outputTensors } from '../oip-v2-tensors.js';

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
 * Request-level keys the protocol itself reads (the binary-data extension), and inferq's own
 * `resend` (at most once across hosts when false), not the model.
 */
const protocolParameters = new Set(['binary_data_output', 'resend']);

/** `parameters.resend`: a boolean, or left out. */
function resendOf(decoded: DecodedRequest): { resend?: boolean } {
  const resend = decoded.parameters?.resend;
  if (resend === undefined) return {};
  if (typeof resend !== 'boolean') {
    throw new InferqError('INFERQ_VALIDATION_FAILED', 'parameters.resend must be true or false', {
      details: { path: 'parameters/resend' },
    });
  }
  return { resend };
}

/**
 * A request's `parameters`, less the protocol's own, are the model's params: held to the
 * model's `params` schema by the rule /v1 uses (400 INFERQ_PARAMS_INVALID naming the key).
 */
function modelParams(ctx: ApiContext, entry: ModelEntry, decoded: DecodedRequest): PredictParams {
  const params = Object.fromEntries(
    Object.entries(decoded.parameters ?? {}).filter(([key]) => !protocolParameters.has(key)),
  );
  ctx.paramsValidator.check(entry, params);
  return params;
}

/**
 * `POST /v2/models/{m}[/versions/{v}]/infer`: decode the tensors (JSON or binary-data), hold
 * them to the model's signature (400 naming the input) and its `parameters` to the model's
 * params schema, run on the fast path, answer in the
 * request's chosen form. Nothing is stored.
 */
async function infer(
  ctx: ApiContext,
  request: FastifyRequest,
  reply: FastifyReply,
  entry: ReturnType<typeof v2Model>,
): Promise<FastifyReply | undefined> {
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  const lengthHeader = request.headers['inference-header-content-length'];
  let headerLength: number | undefined;
  if (typeof lengthHeader === 'string') {
    headerLength = Number(lengthHeader);
    if (!Number.isInteger(headerLength)) {
      throw new InferqError(
        'INFERQ_BODY_MALFORMED',
        `Inference-Header-Content-Length must be an integer, not ${JSON.stringify(lengthHeader)}`,
      );
    }
  }
  const decoded = decodeInferRequest(body, headerLength, entry.tensors.inputs);
  // Checked before the run: an output the model does not have is the caller's mistake.
  outputTensors(entry.tensors, {}, decoded);
  const params = modelParams(ctx, entry, decoded);
  const outcome = await predictNow(ctx, reply, entry, modelInputBytes(entry.tensors, decoded), params, {
    timeoutMs: ctx.config.api.predictTimeoutMs,
    ...resendOf(decoded),
  });
  if (outcome === undefined) {
    // The client left: nobody to answer.
    reply.hijack();
    return undefined;
  }
  const encoded = encodeInferResponse(
    {
      model_name: entry.name,
      model_version: entry.version,
      ...(decoded.id === undefined ? {} : { id: decoded.id }),
    },
    outputTensors(entry.tensors, outcome.output, decoded),
  );
  return reply.headers(encoded.headers).send(encoded.body);
}

/**
 * `/v2/models/...`: the Open Inference Protocol (KServe v2, as Triton serves it) view of the
 * bundled models, so that clients written for Triton or KServe can find and call them.
 * Authenticated as /v1 is.
 */
export function oipV2Routes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['oip-v2'];
    // An infer body is JSON, or JSON then raw tensor bytes: read it whole, whatever its media
    // type (clients send application/json, application/octet-stream or none), within bodyLimit.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    app.get('/v2', { schema: { summary: 'Server metadata (Open Inference Protocol)', tags } }, async () => ({
      name: 'inferq',
      version: ctx.serverVersion ?? 'unknown',
      extensions: ['binary_tensor_data'],
    }));
    const inferSchema = {
      tags,
      consumes: ['application/json', 'application/octet-stream'],
      description:
        "Open Inference Protocol infer: JSON tensors, or the binary-data extension (JSON header, then tensor bytes, the header length in Inference-Header-Content-Length). Outputs come binary when the request sets `parameters.binary_data_output` or an output `parameters.binary_data`. Request-level `parameters` (other than `binary_data_output`) are the model's params, held to its params schema (400 INFERQ_PARAMS_INVALID). Runs on the fast path: no task is stored.",
    };
    app.post(
      '/v2/models/:model/infer',
      { schema: { ...inferSchema, summary: 'Infer (Open Inference Protocol)', params: ModelParams } },
      async (request, reply) => infer(ctx, request, reply, v2Model(ctx, request.params.model)),
    );
    app.post(
      '/v2/models/:model/versions/:version/infer',
      { schema: { ...inferSchema, summary: 'Infer at a version', params: VersionParams } },
      async (request, reply) =>
        infer(ctx, request, reply, v2Model(ctx, request.params.model, request.params.version)),
    );
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
