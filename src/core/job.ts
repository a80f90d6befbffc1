import { InferqError } from '../errors/index.js';

/** A unit of work as it is enqueued: `payload` is opaque to the broker (validated by the worker). */
export interface JobInput {
  /**
   * Optional caller-chosen id. Enqueueing an id that is already waiting, delayed or leased is a
   * no-op, which makes re-enqueueing (the outbox sweeper, a retried API call) safe.
   */
  id?: string;
  payload: unknown;
  /**
   * Who owns the job (a tenant id). Where the broker has `fairShares`, tenants with backlog take
   * turns at a queue, and `priority` orders only the tenant's own jobs. Default '' (one shared
   * tenant for jobs that name none).
   */
  tenant?: string;
  /**
   * The tenant's share weight (> 0): with weights 2 and 1, two tenants with backlog get about
   * 2/3 and 1/3 of the leases. A weight belongs to the tenant, on every queue of the broker: the
   * latest enqueue that gives one sets it, from the next lease on; omitted keeps the weight last
   * given (default 1).
   */
  weight?: number;
  /** Higher runs first (within the job's tenant, where the broker has `fairShares`). Default 0. */
  priority?: number;
  /** Not before this many milliseconds from now. */
  delayMs?: number;
  /** Deliveries before the job is dead-lettered. Default 3. */
  maxAttempts?: number;
}

/** A job held under a lease. Only the holder of `token` may ack, nack or extend it. */
export interface LeasedJob {
  id: string;
  queue: string;
  payload: unknown;
  priority: number;
  /** Deliveries so far, including this one (1 on first delivery). */
  attempts: number;
  maxAttempts: number;
  enqueuedAt: number;
  token: string;
  leaseExpiresAt: number;
}

/** Identifies one lease of one job. */
export interface JobLease {
  id: string;
  token: string;
}

/** A job that exhausted its attempts or was rejected as unrecoverable. */
export interface DeadJob {
  id: string;
  queue: string;
  payload: unknown;
  attempts: number;
  error: string | null;
  failedAt: number;
}

/** A control message on the broadcast channel ("reload model", "cancel task"…). */
export interface BroadcastMessage {
  type: string;
  [key: string]: unknown;
}

export const defaultMaxAttempts = 3;

const queueNamePattern = /^[A-Za-z0-9][A-Za-z0-9._@:-]{0,199}$/;

/** Queue names appear in SQL rows, Redis keys and AMQP queue names: keep them plain. */
export function isValidQueueName(name: string): boolean {
  return queueNamePattern.test(name);
}

/** Throws INFERQ_QUEUE_NAME_INVALID, saying what a queue name may hold, unless `name` is valid. */
export function assertQueueName(name: string): void {
  if (!isValidQueueName(name)) {
    throw new InferqError(
      'INFERQ_QUEUE_NAME_INVALID',
      `invalid queue name ${JSON.stringify(name)}: use 1-200 letters, digits and . _ @ : - starting with a letter or digit`,
      { details: { queue: name } },
    );
  }
}
