import type { Dirent } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Value, ValueErrorType } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { type ModelSpec, ModelSpecSchema } from '../core/model-spec.js';
import { InferqError } from '../errors/index.js';
import { resolveArtifact } from './resolve-artifact.js';

/**
 * A model.yaml validated and tied to its files. A plain object (structured-cloneable), so it
 * can be posted as is to a worker thread.
 */
export interface ResolvedModel {
  readonly spec: ModelSpec;
  /** `name@version`: the identity results and caches are keyed by. */
  readonly ref: string;
  /** Absolute path of the model directory. */
  readonly dir: string;
  /** Absolute path of its model.yaml (named in every error about it). */
  readonly specPath: string;
  /** Absolute path of `artifact`, when the spec has one. */
  readonly artifactPath: string | undefined;
  /** Absolute paths of `artifacts`, by key. */
  readonly artifactPaths: Readonly<Record<string, string>>;
  /** Absolute path of `processor` when it names a module rather than `builtin:<name>`. */
  readonly processorPath: string | undefined;
}

/** The models that ship with inferq (`<package root>/models`), the same from `src/` and `dist/`. */
export const bundledModelsDir = fileURLToPath(new URL('../../models/', import.meta.url));

const specFile = 'model.yaml';

/**
 * A directory of models, one sub-directory per model: `<dir>/<name>/model.yaml` plus the
 * files it refers to. Reads are not cached: a `reload` control message simply reads again.
 */
export class ModelRepository {
  constructor(readonly dir: string) {}

  /** Every model in the directory. One invalid model.yaml fails the whole listing, loudly. */
  async list(): Promise<ResolvedModel[]> {
    let entries: Dirent[];
    try {
      entries = await readdir(this.dir, { withFileTypes: true });
    } catch (cause) {
      throw new InferqError('INFERQ_MODEL_NOT_FOUND', `model directory ${this.dir} cannot be read`, {
        cause,
        details: { dir: this.dir },
      });
    }
    const models: ResolvedModel[] = [];
    for (const entry of entries.filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
      const modelDir = path.join(this.dir, entry.name);
      const names = await readdir(modelDir);
      if (names.includes(specFile)) models.push(await readModel(modelDir));
    }
    return models;
  }

  /** The model `name`, optionally checked to be at `version`. */
  async get(name: string, version?: string): Promise<ResolvedModel> {
    // The name becomes a path: refuse anything that could climb out of the repository.
    if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(name) || name.includes('..')) {
      throw new InferqError('INFERQ_MODEL_NOT_FOUND', `no model named "${name}"`, { details: { name } });
    }
    const modelDir = path.join(this.dir, name);
    let model: ResolvedModel;
    try {
      model = await readModel(modelDir);
    } catch (err) {
      if (err instanceof InferqError && err.code === 'INFERQ_MODEL_NOT_FOUND') {
        throw new InferqError('INFERQ_MODEL_NOT_FOUND', `no model named "${name}" in ${this.dir}`, {
          cause: err,
          details: { name, dir: this.dir },
        });
      }
      throw err;
    }
    if (version !== undefined && model.spec.version !== version) {
      throw new InferqError(
        'INFERQ_MODEL_NOT_FOUND',
        `model "${name}" is at version ${model.spec.version}, not ${version}`,
        { details: { name, version, available: model.spec.version } },
      );
    }
    return model;
  }
}

/** Reads and validates `<modelDir>/model.yaml` and resolves the files it names. */
export async function readModel(modelDir: string): Promise<ResolvedModel> {
  const dir = path.resolve(modelDir);
  const specPath = path.join(dir, specFile);
  let text: string;
  try {
    text = await readFile(specPath, 'utf8');
  } catch (cause) {
    throw new InferqError('INFERQ_MODEL_NOT_FOUND', `cannot read ${specPath}`, {
      cause,
      details: { file: specPath },
    });
  }
  const spec = validateSpec(parseSpecYaml(text, specPath), specPath);
  if (spec.name !== path.basename(dir)) {
    throw invalid(specPath, 'name', `must equal the directory name "${path.basename(dir)}"`, spec.name);
  }
  checkRuntimeNeeds(spec, specPath);

  const artifactPaths: Record<string, string> = {};
  for (const [key, reference] of Object.entries(spec.artifacts ?? {})) {
    artifactPaths[key] = resolveArtifact(reference, dir, specPath, `artifacts.${key}`);
  }
  const processorPath =
    spec.processor !== undefined && !spec.processor.startsWith('builtin:')
      ? resolveArtifact(spec.processor, dir, specPath, 'processor')
      : undefined;
  return {
    spec,
    ref: `${spec.name}@${spec.version}`,
    dir,
    specPath,
    artifactPath:
      spec.artifact === undefined ? undefined : resolveArtifact(spec.artifact, dir, specPath, 'artifact'),
    artifactPaths,
    processorPath,
  };
}

function parseSpecYaml(text: string, specPath: string): unknown {
  try {
    return parseYaml(text);
  } catch (cause) {
    throw new InferqError(
      'INFERQ_MODEL_SPEC_INVALID',
      `${specPath} is not valid YAML: ${(cause as Error).message}`,
      {
        cause,
        details: { file: specPath },
      },
    );
  }
}

function validateSpec(raw: unknown, specPath: string): ModelSpec {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw invalid(specPath, '(root)', 'must be a mapping of keys', raw);
  }
  const candidate = Value.Default(ModelSpecSchema, structuredClone(raw));
  const first = Value.Errors(ModelSpecSchema, candidate).First();
  if (first === undefined) return candidate as ModelSpec;
  const key = first.path.replace(/^\//, '').replaceAll('/', '.') || '(root)';
  if (first.type === ValueErrorType.ObjectAdditionalProperties) {
    const allowed = Object.keys((first.schema as { properties?: Record<string, unknown> }).properties ?? {});
    throw new InferqError(
      'INFERQ_MODEL_SPEC_INVALID',
      `${specPath}: unknown key "${key}"; allowed here: ${allowed.join(', ')}`,
      { details: { file: specPath, key, allowed } },
    );
  }
  throw invalid(specPath, key, first.message, first.value);
}

/** What the schema alone cannot say: each runtime needs its own keys. */
function checkRuntimeNeeds(spec: ModelSpec, specPath: string): void {
  if ((spec.runtime === 'onnx' || spec.runtime === 'js') && spec.artifact === undefined) {
    const what = spec.runtime === 'onnx' ? 'the .onnx file' : 'the JS module';
    throw invalid(specPath, 'artifact', `is required by runtime ${spec.runtime} (${what})`, undefined);
  }
  if (spec.runtime === 'http' && typeof spec.options?.url !== 'string') {
    throw invalid(
      specPath,
      'options.url',
      'is required by runtime http (base URL of the model service)',
      undefined,
    );
  }
  if (spec.processor !== undefined && spec.runtime !== 'onnx') {
    throw invalid(specPath, 'processor', 'is only used by runtime onnx', spec.processor);
  }
}

function invalid(specPath: string, key: string, problem: string, value: unknown): InferqError {
  return new InferqError(
    'INFERQ_MODEL_SPEC_INVALID',
    `${specPath}: key "${key}" ${problem} (got ${JSON.stringify(value) ?? 'nothing'})`,
    { details: { file: specPath, key, value } },
  );
}
