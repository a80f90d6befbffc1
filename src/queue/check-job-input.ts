import { defaultMaxAttempts, type JobInput } from '../core/job.js';
import { InferqError } from '../errors/index.js';

/** The most jobs one `lease` may take. */
export const maxLeaseBatch = 1_000;

/** A job as a SQL broker stores it: every field checked and defaulted. */
export interface CheckedJob {
  id: string | undefined;
  tenant: string;
  weight: number | undefined;
  priority: number;
  delayMs: number;
  /** The payload as JSON text (`null` for undefined, which is what it reads back as). */
  payload: string;
  maxAttempts: number;
}

/**
 * Checks one job of an enqueue, as the SQL brokers (SQLite, PostgreSQL) keep it; the Redis broker
 * checks tenants and weights here. Throws INFERQ_VALIDATION_FAILED saying what to fix.
 */
export function checkJobInput(job: JobInput): CheckedJob {
  const delayMs = job.delayMs ?? 0;
  if (!Number.isFinite(delayMs)) throw invalid(`job delayMs must be a finite number, got ${delayMs}`);
  return {
    id: job.id === undefined ? undefined : checkId(job.id),
    tenant: checkJobTenant(job.tenant),
    weight: job.weight === undefined ? undefined : checkJobWeight(job.weight),
    priority: checkInteger(job.priority ?? 0, 'priority', Number.MIN_SAFE_INTEGER),
    delayMs,
    payload: serialise(job.payload),
    maxAttempts: checkInteger(job.maxAttempts ?? defaultMaxAttempts, 'maxAttempts', 1),
  };
}

/** Checks a lease request's `max` and `leaseMs`. */
export function checkLeaseRequest(max: number, leaseMs: number): void {
  if (!Number.isInteger(max) || max < 1 || max > maxLeaseBatch) {
    throw invalid(`lease max must be an integer from 1 to ${maxLeaseBatch}, got ${max}`);
  }
  if (!(leaseMs > 0)) throw invalid(`leaseMs must be positive, got ${leaseMs}`);
}

export function invalid(message: string): InferqError {
  return new InferqError('INFERQ_VALIDATION_FAILED', message);
}

/** A positive finite option (`pollIntervalMs`…). */
export function positive(value: number, name: string): number {
  if (!(value > 0) || !Number.isFinite(value)) {
    throw invalid(`${name} must be a positive number, got ${value}`);
  }
  return value;
}

function checkInteger(value: number, name: string, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw invalid(`job ${name} must be an integer ≥ ${min}, got ${value}`);
  }
  return value;
}

/** A job's tenant ('' when it names none), as every broker with `fairShares` keeps it. */
export function checkJobTenant(tenant: string | undefined): string {
  const value = tenant ?? '';
  if (typeof value !== 'string' || value.length > 200) {
    throw invalid('job tenant must be a string of at most 200 characters');
  }
  return value;
}

/** A job's tenant weight, when given (every broker with `fairShares`). */
export function checkJobWeight(weight: number): number {
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0 || weight > 1_000_000) {
    throw invalid(`job weight must be a number above 0 and at most 1000000, got ${weight}`);
  }
  return weight;
}

function checkId(id: string): string {
  if (typeof id !== 'string' || id.length === 0) throw invalid('job id must be a non-empty string');
  return id;
}

function serialise(payload: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(payload);
  } catch (cause) {
    throw new InferqError('INFERQ_VALIDATION_FAILED', 'job payload must be JSON-serialisable', { cause });
  }
  // JSON.stringify(undefined) is undefined: store null, which is what the payload reads back as.
  return text ?? 'null';
}
