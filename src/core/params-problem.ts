import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

/** A params object that does not fit a schema: where (a JSON pointer under it) and why. */
export interface ParamsProblem {
  path: string;
  message: string;
  problems: ErrorObject[];
}

// Compiled once per schema object (a model's schema is read once and never changes).
let ajv: Ajv | undefined;
const compiled = new WeakMap<object, ValidateFunction>();

/**
 * The compiled validator of a model's params JSON Schema (compiled once per schema object);
 * undefined when the model declares none, and then takes any params.
 */
export function paramsValidator(schema: unknown): ValidateFunction | undefined {
  if (schema === undefined || schema === null || typeof schema !== 'object') return undefined;
  let validate = compiled.get(schema);
  if (validate === undefined) {
    ajv ??= new Ajv({ allErrors: false, strict: false });
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  return validate;
}

/**
 * Checks `params` against a model's params JSON Schema; undefined when they fit (or the model
 * declares no schema: then it takes any params, as a model target does).
 */
export function paramsProblem(schema: unknown, params: Record<string, unknown>): ParamsProblem | undefined {
  const validate = paramsValidator(schema);
  if (validate === undefined || validate(params)) return undefined;
  const first = validate.errors?.[0];
  const named = first?.params as { missingProperty?: string; additionalProperty?: string } | undefined;
  const key = named?.missingProperty ?? named?.additionalProperty;
  return {
    path: `${first?.instancePath ?? ''}${key === undefined ? '' : `/${key}`}`,
    message:
      named?.additionalProperty === undefined ? (first?.message ?? 'is invalid') : 'is not a known param',
    problems: validate.errors?.slice(0, 10) ?? [],
  };
}
