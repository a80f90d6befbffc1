import type { CatalogEntry } from '../../core/model-catalog.js';
import { paramsValidator } from '../../core/params-problem.js';
import { InferqError } from '../../errors/index.js';

/**
 * Checks params against each model's `params` JSON schema, compiled once per schema
 * (core/params-problem.ts, which pipeline steps' params use too).
 */
export class ParamsValidator {
  check(entry: CatalogEntry, params: Record<string, unknown>): void {
    const ref = `${entry.name}@${entry.version}`;
    const validate = paramsValidator(entry.kind === 'model' ? entry.spec.params : undefined);
    if (validate === undefined || validate(params)) return;
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
