import { type Static, Type } from '@sinclair/typebox';

/** The name `from` uses for the task's own input. */
export const pipelineInputRef = '$input';

/**
 * Schema of `pipelines/<name>.yaml`: a DAG of steps. A step runs a model (`model`, `name` or
 * `name@version`) or a built-in transform (`transform`); `from` names the task input
 * (`$input`) or earlier steps, in the order the step takes them; `map: true` runs the step
 * once per item of the list(s) its sources give (lists are zipped by index, single values
 * shared by every item). `optional: true` lets a failed item become `null` instead of failing
 * the task.
 */
export const PipelineStepSchema = Type.Object(
  {
    id: Type.String({ pattern: '^[a-z][a-z0-9_-]{0,63}$' }),
    model: Type.Optional(Type.String({ minLength: 1 })),
    transform: Type.Optional(Type.String({ minLength: 1 })),
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
    cache: Type.Optional(
      Type.Boolean({
        description:
          'keep results in the result cache (default true; always false when one of its models says `cache: false`)',
      }),
    ),
  },
  { additionalProperties: false },
);

export type PipelineStep = Static<typeof PipelineStepSchema>;
export type PipelineSpec = Static<typeof PipelineSpecSchema>;

/** The sources of a step as a list, in the order the step takes them. */
export function stepSources(step: Pick<PipelineStep, 'from'>): string[] {
  return typeof step.from === 'string' ? [step.from] : [...step.from];
}
