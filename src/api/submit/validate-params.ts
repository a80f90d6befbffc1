import { Ajv, type ValidateFunction } from 'ajv';
import type { CatalogEntry } from '../../core/model-catalog.js';
import { InferqError } from '../../errors/index.js';

/**
 * Checks params against each model's `params` JSON schema. Validators are compiled once per
 * `name@version` (a version's schema never changes) and kept for the life of the app.
 */
export class ParamsValidator {
  readonly #ajv = new Ajv({ allErrors: false, strict: false });
  readonly #compiled = new Map<string, ValidateFunction | null>();

  check(entry: CatalogEntry, params: Record<string, unknown>): void {
    const ref = `${entry.name}@${entry.version}`;
    let validate = this.#compiled.get(ref);
    if (validate === undefined) {
      const schema = entry.kind === 'model' ? entry.spec.params : undefined;
      validate = schema === undefined || schema === null ? null : this.#ajv.compile(schema as object);
      this.#compiled.set(ref, validate);
    }
    if (validate === null || validate(params)) return;
    const first = validate.errors?.[0];
    const missing =
      first?.params && 'missingProperty' in first.params ? `/${first.params.missingProperty}` : '';
    const path = `/params${first?.instancePath ?? ''}${missing}`;
    throw new InferqError(
      'INFERQ_PARAMS_INVALID',
      `${path} ${first?.message ?? 'is invalid'} (params schema of ${ref})`,
      { details: { path, target: ref, problems: validate.errors?.slice(0, 10) ?? [] } },
    );
  }
}
