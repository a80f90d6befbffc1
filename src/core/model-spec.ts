import { type Static, Type } from '@sinclair/typebox';

export const inputKinds = ['image', 'text', 'tensor', 'json', 'file'] as const;
export type InputKind = (typeof inputKinds)[number];

export const runtimeKinds = ['onnx', 'js', 'http'] as const;
export type RuntimeKind = (typeof runtimeKinds)[number];

export const executionProviderNames = ['cpu', 'cuda', 'tensorrt'] as const;
export type ExecutionProviderName = (typeof executionProviderNames)[number];

/** One onnxruntime execution provider: a name, or a GPU provider on a given device. */
const ExecutionProviderSchema = Type.Union([
  Type.Union(executionProviderNames.map((k) => Type.Literal(k))),
  Type.Object(
    {
      name: Type.Union([Type.Literal('cuda'), Type.Literal('tensorrt')]),
      deviceId: Type.Integer({ minimum: 0, description: 'the GPU to run on (CUDA device ordinal)' }),
    },
    { additionalProperties: false },
  ),
]);
export type ExecutionProvider = Static<typeof ExecutionProviderSchema>;

/** Tensor datatypes of the KServe v2 / Open Inference Protocol. */
export const tensorDatatypes = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const;

const TensorSignatureSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_.-]{0,63}$' }),
    datatype: Type.Union(tensorDatatypes.map((d) => Type.Literal(d))),
    // -1 is a dimension of any size, as in Triton's and KServe's model metadata.
    shape: Type.Array(Type.Integer({ minimum: -1 }), { maxItems: 8 }),
  },
  { additionalProperties: false },
);

/** Schema of `models/<name>/model.yaml`. Unknown keys are refused (a typo must not pass silently). */
export const ModelSpecSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' }),
    version: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$' }),
    description: Type.Optional(Type.String()),
    runtime: Type.Union(runtimeKinds.map((k) => Type.Literal(k))),
    artifact: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'main artifact: a path relative to the model directory, or `package:<npm package>/<path>`',
      }),
    ),
    artifacts: Type.Optional(
      Type.Record(Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_-]{0,63}$' }), Type.String({ minLength: 1 }), {
        description: 'further named files (a vocabulary, a config…), referenced like `artifact`',
      }),
    ),
    processor: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'onnx runtime: turns inputs into tensors and tensors into results; `builtin:<name>` or a module path',
      }),
    ),
    input: Type.Object(
      {
        kind: Type.Union(inputKinds.map((k) => Type.Literal(k))),
        maxBytes: Type.Optional(Type.Integer({ minimum: 1 })),
        maxPixels: Type.Optional(Type.Integer({ minimum: 1 })),
        mediaTypes: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
      },
      { additionalProperties: false },
    ),
    params: Type.Optional(Type.Unknown({ description: 'JSON Schema of the params object' })),
    output: Type.Optional(Type.Unknown({ description: 'JSON Schema of the result' })),
    batching: Type.Optional(
      Type.Object(
        {
          maxBatchSize: Type.Integer({ minimum: 1, default: 1 }),
          maxDelayMs: Type.Integer({ minimum: 0, default: 0 }),
          preferredBatchSizes: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }))),
        },
        { additionalProperties: false },
      ),
    ),
    instances: Type.Optional(Type.Integer({ minimum: 1 })),
    threads: Type.Optional(Type.Integer({ minimum: 1 })),
    executionProviders: Type.Optional(
      Type.Array(ExecutionProviderSchema, {
        minItems: 1,
        description:
          'onnx runtime: execution providers in order of preference (cpu, cuda, tensorrt, or { name, deviceId }); default [cpu]',
      }),
    ),
    fallback: Type.Optional(
      Type.Union([Type.Literal('cpu'), Type.Literal('none')], {
        description:
          'onnx runtime: when a listed provider cannot start (not in the installed onnxruntime, no GPU), `cpu` runs the model on the CPU and logs why; `none` (default) refuses to load it',
      }),
    ),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
    maxAttempts: Type.Optional(Type.Integer({ minimum: 1 })),
    cache: Type.Optional(
      Type.Boolean({
        description:
          'keep results in the result cache, so that a repeat submission (same version, input and params) completes at once; default true. Set false for a model whose output is not a function of its input and params (sampling, clocks, outside state)',
      }),
    ),
    tensors: Type.Optional(
      Type.Object(
        {
          inputs: Type.Array(TensorSignatureSchema, { minItems: 1 }),
          outputs: Type.Array(TensorSignatureSchema, { minItems: 1 }),
        },
        {
          additionalProperties: false,
          description:
            'the model as Open Inference Protocol (v2) clients see it: named inputs and outputs with datatypes and shapes, served by GET /v2/models/{name}',
        },
      ),
    ),
    preprocess: Type.Optional(Type.String()),
    postprocess: Type.Optional(Type.String()),
    options: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);

export type ModelSpec = Static<typeof ModelSpecSchema>;
