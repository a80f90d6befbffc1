import type { BroadcastMessage, DeadJob, JobInput, JobLease, LeasedJob } from '../core/job.js';

/**
 * What an adapter can honour. Callers check a capability instead of an adapter faking it
 * (BullMQ #124): e.g. a RabbitMQ quorum queue has no priorities.
 */
export interface BrokerCapabilities {
  /** Higher priority jobs are leased first. */
  priorities: boolean;
  /** `delayMs` holds a job back. */
  delayedJobs: boolean;
  /** `enqueue` with an existing live id is a no-op. */
  dedupeById: boolean;
  /** Dead jobs can be listed and requeued. */
  deadLetterInspection: boolean;
  /** publish/subscribe reaches other processes (and hosts, when `distributed`). */
  broadcast: boolean;
  /** Several hosts can share the queue. */
  distributed: boolean;
  /**
   * `hasLiveJob` can answer. False on RabbitMQ, which cannot find a message by id; there
   * `hasLiveJob` throws `INFERQ_CAPABILITY_UNSUPPORTED` and the outbox sweeper stands down.
   */
  liveJobLookup: boolean;
  /**
   * Leases share a queue between the tenants with backlog in proportion to their weights
   * (`JobInput.tenant`, `JobInput.weight`), and a priority orders only its own tenant's jobs.
   * Where false, a queue is one line for every tenant (priority, then FIFO); `missingCapabilities`
   * says why.
   */
  fairShares: boolean;
}

export interface LeaseRequest {
  /** At most this many jobs (1..1000). */
  max: number;
  /** Lease duration; the job is delivered again if not acked, nacked or extended in time. */
  leaseMs: number;
  /** Wait up to this long for a first job when none is ready (long poll). 0 = return at once. */
  waitMs?: number;
}

export interface NackRequest {
  error: string;
  /** false: dead-letter at once (bad input will never succeed). Default true. */
  retryable?: boolean;
  /** Overrides the exponential backoff for this retry. */
  delayMs?: number;
}

export type NackOutcome = 'retried' | 'dead' | 'stale';

export interface QueueDepth {
  waiting: number;
  delayed: number;
  leased: number;
  dead: number;
}

export type Unsubscribe = () => Promise<void>;

/**
 * At-least-once job delivery with leases. A job is delivered to one holder at a time; if the
 * holder neither acks nor nacks before its lease expires, the reaper makes it deliverable
 * again. Acks and nacks name the lease token, so a stale holder's late ack is refused.
 */
export interface Broker {
  readonly kind: string;
  readonly capabilities: BrokerCapabilities;
  /** Why each capability this adapter declares false is missing (printed by the contract tests). */
  readonly missingCapabilities?: Readonly<Partial<Record<keyof BrokerCapabilities, string>>>;

  /** Returns the job's id (the given one, or a new one). */
  enqueue(queue: string, job: JobInput): Promise<string>;
  /** Enqueues all in one round trip / transaction; ids in input order. */
  enqueueMany(queue: string, jobs: readonly JobInput[]): Promise<string[]>;
  /**
   * Leases up to `max` ready jobs: with `fairShares`, tenants with backlog in turn by weight and
   * each tenant's own jobs highest priority then oldest first; without, highest priority then
   * oldest first.
   */
  lease(queue: string, request: LeaseRequest): Promise<LeasedJob[]>;
  /** Extends live leases; returns the ids whose lease was extended (others were lost). */
  extendLeases(leases: readonly JobLease[], leaseMs: number): Promise<string[]>;
  /** Removes finished jobs; returns how many were acked (stale leases are skipped). */
  ack(leases: readonly JobLease[]): Promise<number>;
  /** Gives a job back: retried after backoff, or dead-lettered when out of attempts. */
  nack(lease: JobLease, request: NackRequest): Promise<NackOutcome>;
  /** Makes jobs whose lease expired deliverable again; returns how many. */
  reapExpiredLeases(): Promise<number>;
  depth(queue: string): Promise<QueueDepth>;
  deadJobs(queue: string, limit?: number): Promise<DeadJob[]>;
  /** Puts a dead job back in its queue with fresh attempts. */
  requeueDead(queue: string, id: string): Promise<boolean>;
  /**
   * Whether a job with this id is waiting, delayed or leased (for the outbox sweeper). Throws
   * `INFERQ_CAPABILITY_UNSUPPORTED` where `capabilities.liveJobLookup` is false.
   */
  hasLiveJob(queue: string, id: string): Promise<boolean>;

  publish(channel: string, message: BroadcastMessage): Promise<void>;
  subscribe(channel: string, handler: (message: BroadcastMessage) => void): Promise<Unsubscribe>;

  ping(): Promise<void>;
  close(): Promise<void>;
}
