import { InferqError } from '../errors/index.js';
import { paramsProblem } from './params-problem.js';
import { type PipelineSpec, type PipelineStep, pipelineInputRef, stepSources } from './pipeline-spec.js';
import {
  describeType,
  fits,
  isTransformName,
  type TransformName,
  transformSignatures,
  type ValueType,
} from './pipeline-types.js';

/** What checking a pipeline needs to know of a model it names. */
export interface PipelineModelInfo {
  name: string;
  version: string;
  /** The model's `input.kind`. */
  inputKind: string;
  /** Top-level properties of its output schema, when it declares them. */
  outputFields?: readonly string[];
  maxAttempts?: number;
  /** The model's params JSON Schema (`params` of its model.yaml), when it declares one. */
  params?: unknown;
  /** false when the model's results must not be served from the result cache. */
  cache?: boolean;
}

/** A step resolved against the models: what the coordinator executes. */
export interface CompiledStep {
  id: string;
  /** Set for a model step: the child tasks run on queue `name@version`. */
  model?: { name: string; version: string; maxAttempts?: number };
  /** Set for a transform step. */
  transform?: TransformName;
  sources: string[];
  map: boolean;
  optional: boolean;
  /** The spec's params for the step's model (a task may override them: pipeline-params.ts). */
  params: Record<string, unknown>;
  /** The JSON Schema the step's params must fit: its model's, when the model declares one. */
  paramsSchema?: unknown;
  output: ValueType;
}

/** A pipeline checked and ready to run: steps in an order where every source comes first. */
export interface CompiledPipeline {
  name: string;
  version: string;
  spec: PipelineSpec;
  /** The file it was read from (named in errors). */
  file: string;
  steps: CompiledStep[];
  output: string;
  /**
   * Whether the pipeline's results may be served from the result cache: unless its spec says
   * `cache: false` or one of its models does (its output would then not be a function of the
   * input and params either).
   */
  cache: boolean;
}

/** Type of the task input: whatever bytes were submitted (each consumer checks them). */
const inputType: ValueType = { kind: 'file' };

/**
 * Checks a pipeline spec beyond its schema: one of model/transform per step, unique ids, known
 * sources, models and transforms, no cycles, and that each source's type fits what the step
 * takes. Every error is `INFERQ_PIPELINE_SPEC_INVALID` naming the file and the step.
 */
export function checkPipeline(
  spec: PipelineSpec,
  file: string,
  lookupModel: (ref: string) => PipelineModelInfo | undefined,
): CompiledPipeline {
  const fail = (step: string | undefined, problem: string): InferqError =>
    new InferqError(
      'INFERQ_PIPELINE_SPEC_INVALID',
      `${file}: ${step === undefined ? '' : `step "${step}": `}${problem}`,
      { details: { file, ...(step === undefined ? {} : { step }) } },
    );
  const byId = new Map<string, PipelineStep>();
  for (const step of spec.steps) {
    if (byId.has(step.id)) throw fail(step.id, 'the id is used by another step');
    if ((step.model === undefined) === (step.transform === undefined)) {
      throw fail(step.id, 'give exactly one of "model" or "transform"');
    }
    byId.set(step.id, step);
  }
  for (const step of spec.steps) {
    for (const source of stepSources(step)) {
      if (source !== pipelineInputRef && !byId.has(source)) {
        throw fail(step.id, `"from" names "${source}", which is neither ${pipelineInputRef} nor a step`);
      }
    }
  }
  if (!byId.has(spec.output)) throw fail(undefined, `"output" names "${spec.output}", which is not a step`);

  const order = topologicalOrder(spec.steps, (cycle) =>
    fail(cycle[0], `steps form a cycle: ${[...cycle, cycle[0]].join(' → ')}`),
  );
  const types = new Map<string, ValueType>([[pipelineInputRef, inputType]]);
  const steps: CompiledStep[] = [];
  let cache = spec.cache !== false;
  for (const step of order) {
    const sources = stepSources(step);
    const given = sources.map((s) => types.get(s)!);
    const map = step.map === true;
    if (map && !given.some((t) => t.list)) {
      throw fail(
        step.id,
        `"map: true" needs a list among its sources; ${sources.join(', ')} give single values`,
      );
    }
    // A map step sees one item of each list source; single sources are shared by every item.
    const each = map ? given.map((t) => ({ ...t, list: false })) : given;
    const compiled: CompiledStep = {
      id: step.id,
      sources,
      map,
      optional: step.optional === true,
      params: step.params ?? {},
      output: { kind: 'json' },
    };
    let output: ValueType;
    if (step.model !== undefined) {
      const model = lookupModel(step.model);
      if (model === undefined) throw fail(step.id, `unknown model "${step.model}"`);
      if (model.cache === false) cache = false;
      if (sources.length !== 1) throw fail(step.id, `a model step takes one source, not ${sources.length}`);
      const wanted: ValueType = { kind: model.inputKind === 'image' ? 'image' : 'file' };
      checkFit(step.id, sources[0]!, given[0]!, each[0]!, wanted, map, fail);
      compiled.model = {
        name: model.name,
        version: model.version,
        ...(model.maxAttempts === undefined ? {} : { maxAttempts: model.maxAttempts }),
      };
      if (model.params !== undefined) compiled.paramsSchema = model.params;
      const problem = paramsProblem(model.params, compiled.params);
      if (problem !== undefined) {
        throw fail(
          step.id,
          `params${problem.path} ${problem.message} (params schema of ${model.name}@${model.version})`,
        );
      }
      output = { kind: 'json', ...(model.outputFields ? { fields: model.outputFields } : {}) };
    } else {
      const name = step.transform!;
      if (!isTransformName(name)) {
        throw fail(
          step.id,
          `unknown transform "${name}"; known: ${Object.keys(transformSignatures).join(', ')}`,
        );
      }
      const signature = transformSignatures[name];
      if (signature.map !== map) {
        throw fail(step.id, `transform ${name} ${signature.map ? 'needs' : 'does not take'} "map: true"`);
      }
      const required = signature.requiredInputs ?? signature.inputs.length;
      if (sources.length < required || sources.length > signature.inputs.length) {
        const takes =
          required === signature.inputs.length ? `${required}` : `${required} to ${signature.inputs.length}`;
        throw fail(step.id, `transform ${name} takes ${takes} sources, not ${sources.length}`);
      }
      sources.forEach((source, i) => {
        checkFit(step.id, source, given[i]!, each[i]!, signature.inputs[i]!, map, fail);
      });
      if (step.params !== undefined) throw fail(step.id, `transform ${name} takes no params`);
      compiled.transform = name;
      output = signature.output;
    }
    compiled.output = map ? { ...output, list: true } : output;
    types.set(step.id, compiled.output);
    steps.push(compiled);
  }
  return { name: spec.name, version: spec.version, spec, file, steps, output: spec.output, cache };
}

function checkFit(
  step: string,
  source: string,
  declared: ValueType,
  item: ValueType,
  wanted: ValueType,
  map: boolean,
  fail: (step: string, problem: string) => InferqError,
): void {
  if (fits(item, wanted)) return;
  const hint = declared.list && !wanted.list && !map ? ' (it is a list: mark the step "map: true")' : '';
  throw fail(
    step,
    `type mismatch: "${source}" gives ${describeType(declared)}${hint}, but this step takes ${describeType(wanted)} there`,
  );
}

/** Kahn's algorithm, keeping spec order among ready steps; a cycle is reported by its steps. */
function topologicalOrder(
  steps: readonly PipelineStep[],
  cycleError: (cycle: string[]) => InferqError,
): PipelineStep[] {
  const done = new Set<string>([pipelineInputRef]);
  const order: PipelineStep[] = [];
  let left = [...steps];
  while (left.length > 0) {
    const ready = left.filter((s) => stepSources(s).every((src) => done.has(src)));
    if (ready.length === 0) throw cycleError(findCycle(left));
    for (const step of ready) {
      done.add(step.id);
      order.push(step);
    }
    left = left.filter((s) => !done.has(s.id));
  }
  return order;
}

function findCycle(left: readonly PipelineStep[]): string[] {
  const byId = new Map(left.map((s) => [s.id, s]));
  const path: string[] = [];
  let current = left[0]!;
  while (!path.includes(current.id)) {
    path.push(current.id);
    const next = stepSources(current).find((src) => byId.has(src));
    if (next === undefined) break;
    current = byId.get(next)!;
  }
  return path.slice(path.indexOf(current.id));
}
