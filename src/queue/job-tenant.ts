import { InferqError } from '../errors/index.js';

/**
 * The tenant and weight a broker with `fairShares` accepts on a job (`JobInput.tenant`,
 * `JobInput.weight`), checked the same way by every adapter. The tenant is a key the broker
 * keeps (a column, a Redis sub-queue name), so its length is bounded.
 */
export const maxJobTenantLength = 200;
export const maxJobWeight = 1_000_000;

/** The job's tenant ('' when it names none); INFERQ_VALIDATION_FAILED when it cannot be kept. */
export function checkJobTenant(tenant: string | undefined): string {
  const value = tenant ?? '';
  if (typeof value !== 'string' || value.length > maxJobTenantLength) {
    throw new InferqError(
      'INFERQ_VALIDATION_FAILED',
      `job tenant must be a string of at most ${maxJobTenantLength} characters`,
    );
  }
  return value;
}

/** The job's weight, when given: a finite number above 0 and at most `maxJobWeight`. */
export function checkJobWeight(weight: number): number {
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0 || weight > maxJobWeight) {
    throw new InferqError(
      'INFERQ_VALIDATION_FAILED',
      `job weight must be a number above 0 and at most ${maxJobWeight}, got ${weight}`,
    );
  }
  return weight;
}
