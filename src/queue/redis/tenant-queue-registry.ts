import { type BackendFactory, createRedisBackend, Queue, type RedisQueueBackend, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { defaultMaxAttempts, type JobInput } from '../../core/job.js';
import { InferqError } from '../../errors/index.js';
import { bullName, fairShareKeys, tenantQueueName } from './tenant-queues.js';

/** What inferq keeps in a BullMQ job's `data`. */
export interface JobData {
  payload: unknown;
  maxAttempts: number;
  priority: number;
  /** Absent on jobs of the tenant '' (and every job from before fair shares). */
  tenant?: string;
}

/**
 * BullMQ orders prioritized jobs by ascending number (1 first) and serves its plain wait list
 * before any of them; inferq's priorities are "higher first" with 0 as the default. So every job
 * goes to the prioritized set at `neutral - priority`, which keeps FIFO within one priority.
 */
const neutralPriority = 1_000_000;
const maxBullPriority = 2_097_151;
/**
 * Workers here never block in BullMQ (`getNextJob` with `block: false`; an idle lease waits in
 * MarkerWaiter), so they share the broker's connection instead of opening a blocking one each:
 * with one worker per tenant queue, a connection each would be one per tenant per host.
 */
const sharedConnectionBackend: BackendFactory<RedisQueueBackend> = (name, opts) =>
  createRedisBackend(name, opts, { withBlockingConnection: false });

/**
 * RedisBroker's BullMQ objects: a `Queue` per tenant queue (tenant-queues.ts) and a
 * processor-less `Worker` per (tenant queue, lease length), made on first use, all on the
 * broker's one connection; and the list of a queue's tenant queues.
 */
export class TenantQueueRegistry {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #queues = new Map<string, Queue>();
  readonly #workers = new Map<string, Worker>();
  #closed = false;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  /** The BullMQ queue named `name` (a tenant queue's name). */
  queue(name: string): Queue {
    if (this.#closed) throw new InferqError('INFERQ_BROKER_UNAVAILABLE', 'the Redis broker is closed');
    let queue = this.#queues.get(name);
    if (queue === undefined) {
      queue = new Queue(name, { connection: this.#redis, prefix: this.#prefix });
      queue.on('error', () => {});
      this.#queues.set(name, queue);
    }
    return queue;
  }

  /**
   * The worker of `tenant`'s queue of `queue` for leases of `leaseMs`: BullMQ sets the lock of a
   * fetched job to the worker's `lockDuration`, so one lease length needs one worker. Workers
   * use a fixed lease in practice, so this stays at one or two per tenant queue.
   */
  worker(queue: string, tenant: string, leaseMs: number): Worker {
    if (this.#closed) throw new InferqError('INFERQ_BROKER_UNAVAILABLE', 'the Redis broker is closed');
    const name = tenantQueueName(queue, tenant);
    const key = `${name}\0${leaseMs}`;
    let worker = this.#workers.get(key);
    if (worker === undefined) {
      worker = new Worker(
        name,
        null,
        {
          connection: this.#redis,
          prefix: this.#prefix,
          autorun: false,
          lockDuration: Math.max(1, Math.floor(leaseMs)),
        },
        sharedConnectionBackend,
      );
      worker.on('error', () => {});
      this.#workers.set(key, worker);
    }
    return worker;
  }

  /**
   * Adds `tenant`'s jobs of `queue` to its tenant queue; a dead job's id starts a fresh job.
   * (The tenant must already be listed: RedisBroker.enqueueMany does that first.)
   */
  async addJobs(
    queue: string,
    tenant: string,
    entries: ReadonlyArray<{ job: JobInput; id: string }>,
  ): Promise<void> {
    const name = tenantQueueName(queue, tenant);
    const q = this.queue(name);
    // BullMQ ignores an add whose id exists in any state. Live ids must stay deduplicated, but a
    // dead (failed) job's id must start a fresh job: remove those first.
    const given = [...new Set(entries.filter((e) => e.job.id !== undefined).map((e) => e.id))];
    if (given.length > 0) {
      const failedKey = `${this.#prefix}:${name}:failed`;
      const scores = await this.#redis.pipeline(given.map((id) => ['zscore', failedKey, id])).exec();
      const dead = given.filter((_, i) => scores?.[i]?.[1] !== null);
      for (const id of dead) await q.remove(id).catch(() => 0);
    }
    await q.addBulk(
      entries.map(({ job, id }) => {
        const priority = job.priority ?? 0;
        const data: JobData = {
          payload: job.payload,
          maxAttempts: job.maxAttempts ?? defaultMaxAttempts,
          priority,
          ...(tenant === '' ? {} : { tenant }),
        };
        return {
          name: 'job',
          data,
          opts: {
            jobId: id,
            priority: Math.min(maxBullPriority, Math.max(1, neutralPriority - priority)),
            ...(job.delayMs !== undefined && job.delayMs > 0 ? { delay: job.delayMs } : {}),
            // Acked jobs leave no trace (and free their id); dead ones stay for inspection.
            removeOnComplete: true,
            removeOnFail: false,
          },
        };
      }),
    );
  }

  /** The BullMQ names of every tenant queue of `queue`, the tenant '' one first. */
  async names(queue: string): Promise<string[]> {
    const listed = await this.#redis.hvals(fairShareKeys(this.#prefix, queue).tenants);
    const plain = bullName(queue);
    return [plain, ...listed.filter((name) => name !== plain)];
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#workers.values()].map((w) => w.close(true)));
    await Promise.all([...this.#queues.values()].map((q) => q.close()));
  }
}
