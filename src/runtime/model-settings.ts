import { InferqError } from '../errors/index.js';
import type { ResolvedModel } from './model-repository.js';
import type { PredictParams } from './runtime.js';

/** Bounds a numeric setting must fall within. */
export interface NumberRange {
  min?: number;
  max?: number;
  integer?: boolean;
}

/**
 * A numeric knob of a model: the spec's `options.<key>` sets the model's default, and when
 * `overridable` the call's `params.<key>` may change it per task. A bad value in model.yaml
 * is the operator's mistake (`INFERQ_MODEL_SPEC_INVALID`); in params, the client's
 * (`INFERQ_VALIDATION_FAILED`, not retried).
 */
export function numberSetting(
  model: ResolvedModel,
  key: string,
  fallback: number,
  range: NumberRange = {},
  params?: PredictParams,
): number {
  const fromParams = params?.[key];
  if (fromParams !== undefined) {
    if (isInRange(fromParams, range)) return fromParams;
    throw new InferqError('INFERQ_VALIDATION_FAILED', `param "${key}" must be ${describe(range)}`, {
      details: { key, value: fromParams },
    });
  }
  const fromSpec = model.spec.options?.[key];
  if (fromSpec === undefined) return fallback;
  if (isInRange(fromSpec, range)) return fromSpec;
  throw new InferqError(
    'INFERQ_MODEL_SPEC_INVALID',
    `${model.specPath}: key "options.${key}" must be ${describe(range)} (got ${JSON.stringify(fromSpec)})`,
    { details: { file: model.specPath, key: `options.${key}`, value: fromSpec } },
  );
}

/** A string knob restricted to `allowed`, read like {@link numberSetting}. */
export function choiceSetting<T extends string>(
  model: ResolvedModel,
  key: string,
  allowed: readonly T[],
  fallback: T,
  params?: PredictParams,
): T {
  const fromParams = params?.[key];
  if (fromParams !== undefined) {
    if (allowed.includes(fromParams as T)) return fromParams as T;
    throw new InferqError('INFERQ_VALIDATION_FAILED', `param "${key}" must be one of ${allowed.join(', ')}`, {
      details: { key, value: fromParams, allowed },
    });
  }
  const fromSpec = model.spec.options?.[key];
  if (fromSpec === undefined) return fallback;
  if (allowed.includes(fromSpec as T)) return fromSpec as T;
  throw new InferqError(
    'INFERQ_MODEL_SPEC_INVALID',
    `${model.specPath}: key "options.${key}" must be one of ${allowed.join(', ')} (got ${JSON.stringify(fromSpec)})`,
    { details: { file: model.specPath, key: `options.${key}`, value: fromSpec, allowed } },
  );
}

function isInRange(value: unknown, range: NumberRange): value is number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return false;
  if (range.integer && !Number.isInteger(value)) return false;
  return (range.min === undefined || value >= range.min) && (range.max === undefined || value <= range.max);
}

function describe(range: NumberRange): string {
  const kind = range.integer ? 'an integer' : 'a number';
  if (range.min !== undefined && range.max !== undefined) return `${kind} from ${range.min} to ${range.max}`;
  if (range.min !== undefined) return `${kind} ≥ ${range.min}`;
  if (range.max !== undefined) return `${kind} ≤ ${range.max}`;
  return kind;
}
