import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { type CompiledPipeline, checkPipeline, type PipelineModelInfo } from '../core/check-pipeline.js';
import type { ModelSpec } from '../core/model-spec.js';
import { type PipelineSpec, PipelineSpecSchema } from '../core/pipeline-spec.js';
import { InferqError } from '../errors/index.js';

/** Pipelines read from a model repository: the valid ones, and why the others were refused. */
export interface LoadedPipelines {
  pipelines: CompiledPipeline[];
  /** File name → the `INFERQ_PIPELINE_SPEC_INVALID` error that refused it. */
  invalid: Record<string, InferqError>;
}

/**
 * Reads `<modelsDir>/pipelines/*.yaml` and checks each against the models given (which the
 * repository lists). One bad file is reported and skipped: the other pipelines still serve.
 * The file name (without `.yaml`) must equal the pipeline's `name`.
 */
export async function readPipelines(
  modelsDir: string,
  models: readonly { spec: ModelSpec }[],
): Promise<LoadedPipelines> {
  const dir = path.join(modelsDir, 'pipelines');
  const loaded: LoadedPipelines = { pipelines: [], invalid: {} };
  if (!existsSync(dir)) return loaded;
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const lookup = modelLookup(models);
  for (const name of files) {
    const file = path.join(dir, name);
    try {
      const spec = parsePipelineSpec(await readFile(file, 'utf8'), file);
      if (spec.name !== name.replace(/\.ya?ml$/, '')) {
        throw invalid(file, `"name" must equal the file name without .yaml (got "${spec.name}")`);
      }
      loaded.pipelines.push(checkPipeline(spec, file, lookup));
    } catch (err) {
      loaded.invalid[name] = err instanceof InferqError ? err : invalid(file, (err as Error).message, err);
    }
  }
  return loaded;
}

/** Parses and schema-checks one pipeline file's text. */
export function parsePipelineSpec(text: string, file: string): PipelineSpec {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (cause) {
    throw invalid(file, `not valid YAML: ${(cause as Error).message}`, cause);
  }
  const first = Value.Errors(PipelineSpecSchema, raw).First();
  if (first === undefined) return raw as PipelineSpec;
  const key = first.path.replace(/^\//, '').replaceAll('/', '.') || '(root)';
  const stepIndex = /^steps\.(\d+)/.exec(key)?.[1];
  const stepId =
    stepIndex === undefined
      ? undefined
      : (raw as { steps?: Array<{ id?: unknown }> }).steps?.[Number(stepIndex)]?.id;
  const where = typeof stepId === 'string' ? `step "${stepId}": ` : '';
  throw invalid(
    file,
    `${where}key "${key}" ${first.message} (got ${JSON.stringify(first.value) ?? 'nothing'})`,
  );
}

/** Resolves `name` (the repository's version) or `name@version` against the listed models. */
function modelLookup(models: readonly { spec: ModelSpec }[]): (ref: string) => PipelineModelInfo | undefined {
  return (ref) => {
    const [name, version] = ref.split('@') as [string, string | undefined];
    const spec = models.find(
      (m) => m.spec.name === name && (version === undefined || m.spec.version === version),
    )?.spec;
    if (spec === undefined) return undefined;
    const properties = (spec.output as { properties?: Record<string, unknown> } | undefined)?.properties;
    return {
      name: spec.name,
      version: spec.version,
      inputKind: spec.input.kind,
      ...(properties ? { outputFields: Object.keys(properties) } : {}),
      ...(spec.maxAttempts === undefined ? {} : { maxAttempts: spec.maxAttempts }),
      ...(spec.params === undefined ? {} : { params: spec.params }),
      ...(spec.cache === undefined ? {} : { cache: spec.cache }),
    };
  };
}

function invalid(file: string, problem: string, cause?: unknown): InferqError {
  return new InferqError('INFERQ_PIPELINE_SPEC_INVALID', `${file}: ${problem}`, {
    ...(cause === undefined ? {} : { cause }),
    details: { file },
  });
}
