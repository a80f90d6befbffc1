import { InferqError } from '../errors/index.js';
import type { CompiledPipeline, CompiledStep } from './check-pipeline.js';
import { paramsProblem } from './params-problem.js';

/**
 * Params of a pipeline task: `{ steps: { <step id>: { …params of that step's model } } }`.
 * A step's params are the spec's `params` for it, overridden key by key by the task's.
 */
export type PipelineTaskParams = { steps?: Record<string, Record<string, unknown>> };

/** The params a child task of `step` runs with: the spec's, overridden by the task's `steps.<id>`. */
export function paramsForStep(
  step: CompiledStep,
  taskParams: Record<string, unknown>,
): Record<string, unknown> {
  const override = stepsOf(taskParams)?.[step.id];
  return isObject(override) ? { ...step.params, ...override } : step.params;
}

/**
 * Checks the params of a task submitted to `pipeline` (see {@link PipelineTaskParams}): only
 * `steps`, only model steps of this pipeline, and each step's params (the spec's merged with
 * the task's) valid against that step's model schema. Throws `INFERQ_PARAMS_INVALID` whose
 * `details.path` is the JSON path of the offending value, e.g. `/params/steps/det/boxThresh`.
 */
export function checkPipelineParams(pipeline: CompiledPipeline, params: Record<string, unknown>): void {
  const target = `${pipeline.name}@${pipeline.version}`;
  const fail = (path: string, message: string, extra: Record<string, unknown> = {}, why = ''): InferqError =>
    new InferqError('INFERQ_PARAMS_INVALID', `/params${path} ${message} (pipeline ${target}${why})`, {
      details: { path: `/params${path}`, target, ...extra },
    });
  for (const key of Object.keys(params)) {
    if (key !== 'steps') {
      throw fail(
        `/${key}`,
        'is not a pipeline param: a pipeline task takes { steps: { <step id>: params } }',
      );
    }
  }
  if (params.steps === undefined) return;
  const steps = stepsOf(params);
  if (steps === undefined) throw fail('/steps', 'must be an object of step id → params');
  for (const [id, override] of Object.entries(steps)) {
    const step = pipeline.steps.find((s) => s.id === id);
    if (step === undefined) {
      throw fail(
        `/steps/${id}`,
        `names no step; the steps are ${pipeline.steps.map((s) => s.id).join(', ')}`,
      );
    }
    if (step.model === undefined) {
      throw fail(`/steps/${id}`, `is transform ${step.transform}, which takes no params`, { step: id });
    }
    if (!isObject(override)) throw fail(`/steps/${id}`, 'must be an object', { step: id });
    const problem = paramsProblem(step.paramsSchema, { ...step.params, ...override });
    if (problem !== undefined) {
      const model = `${step.model.name}@${step.model.version}`;
      throw fail(
        `/steps/${id}${problem.path}`,
        problem.message,
        { step: id, model, problems: problem.problems },
        `, step "${id}": params schema of ${model}`,
      );
    }
  }
}

/**
 * JSON Schema of a pipeline task's params, built from its model steps' schemas (what
 * `/v1/models` shows). It describes each step's override alone; {@link checkPipelineParams}
 * checks the override merged with the spec's params.
 */
export function pipelineParamsSchema(pipeline: CompiledPipeline): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const step of pipeline.steps) {
    if (step.model !== undefined) properties[step.id] = step.paramsSchema ?? { type: 'object' };
  }
  return {
    type: 'object',
    additionalProperties: false,
    properties: { steps: { type: 'object', additionalProperties: false, properties } },
  };
}

function stepsOf(params: Record<string, unknown>): Record<string, unknown> | undefined {
  return isObject(params.steps) ? params.steps : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
