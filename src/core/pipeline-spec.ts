import { type Static, Type } from '@sinclair/typebox';

/**
 * Schema of `pipelines/<name>.yaml`: a DAG of steps. A step runs a model (`model`) or a
 * built-in transform (`transform`); `from` names the task input (`$input`) or earlier steps;
 * `map: true` fans out over the list its input yields.
 */
export const PipelineStepSchema = Type.Object(
  {
    id: Type.String({ pattern: '^[a-z][a-z0-9_-]{0,63}$' }),
    model: Type.Optional(Type.String()),
    transform: Type.Optional(Type.String()),
    from: Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })]),
    map: Type.Optional(Type.Boolean()),
    optional: Type.Optional(Type.Boolean()),
    params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);

export const PipelineSpecSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' }),
    version: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$' }),
    description: Type.Optional(Type.String()),
    steps: Type.Array(PipelineStepSchema, { minItems: 1 }),
    output: Type.String({ description: 'id of the step whose output is the task result' }),
  },
  { additionalProperties: false },
);

export type PipelineStep = Static<typeof PipelineStepSchema>;
export type PipelineSpec = Static<typeof PipelineSpecSchema>;
