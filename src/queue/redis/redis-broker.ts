import { randomUUID } from 'node:crypto';
import { Job, type Queue, type Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { type BackoffPolicy, backoffDelay, defaultBackoff } from '../../core/backoff.js';
import { newId } from '../../core/ids.js';
import {
  assertQueueName,
  type BroadcastMessage,
  type DeadJob,
  type JobInput,
  type JobLease,
  type LeasedJob,
} from '../../core/job.js';
import { redactUrl } from '../../core/redact-url.js';
import { InferqError } from '../../errors/index.js';
import type {
  Broker,
  BrokerCapabilities,
  LeaseRequest,
  NackOutcome,
  NackRequest,
  QueueDepth,
  Unsubscribe,
} from '../broker.js';
import { checkJobTenant, checkJobWeight } from '../check-job-input.js';
import { planFairLease } from './fair-lease-plan.js';
import { MarkerWaiter } from './marker-waiter.js';
import { PrefetchBuffer, type Prefetched } from './prefetch-buffer.js';
import { RedisBroadcast } from './redis-broadcast.js';
import { type JobData, TenantQueueRegistry } from './tenant-queue-registry.js';
import { TenantQueueViews } from './tenant-queue-views.js';
import { bullName, fairShareKeys, leaseToken, tenantQueueName, tokenTarget } from './tenant-queues.js';

export interface RedisBrokerOptions {
  /** BullMQ key prefix (default `bull`, which is what @bull-board shows by default). */
  prefix?: string;
  backoff?: BackoffPolicy;
  /** When set, `reapExpiredLeases` runs on an unref'd timer at this interval. */
  reapIntervalMs?: number;
  /**
   * The longest an idle `lease` blocks on the queue's marker before it looks again (default
   * 200 ms). New work wakes it at once; the bound covers delayed jobs and retries whose marker
   * another worker took.
   */
  pollIntervalMs?: number;
}

/** A job leased through this handle: ack and nack skip a round trip to load it. */
interface Held {
  job: Job;
  /** Its inferq queue. */
  queue: string;
  /** The lease kind (queue + lease length) it was leased as; ack prefetches for it ('' never). */
  kind: string;
  /** The worker of its tenant queue and lease length: a prefetched job is built on it. */
  worker: Worker | undefined;
}

const capabilities: BrokerCapabilities = Object.freeze({
  priorities: true,
  delayedJobs: true,
  dedupeById: true,
  deadLetterInspection: true,
  broadcast: true,
  distributed: true,
  liveJobLookup: true,
  fairShares: true,
});

const maxLeaseBatch = 1_000;
/** Adds ARGV[1] to a job's started-attempts count, unless the job is gone (no stray key). */
const addToAttemptsScript = `if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HINCRBY', KEYS[1], 'ats', ARGV[1])
end
return false`;
/**
 * A prefetched job older than this fraction of its lease is relocked when leased out: before,
 * one that waited a second of a 2 s lease was handed out with 1 s left, a third of a second
 * after the loop's first renewal was due, and on a loaded host its lock expired under a live
 * worker, which ran it again elsewhere.
 */
const relockAfterFraction = 1 / 6;

/**
 * The Redis broker, on BullMQ. Leases are BullMQ's manual fetching — a `Worker` with no
 * processor hands out jobs with `getNextJob(token)` under a lock of `leaseMs`, extended with
 * `extendLocks`, ended with `moveToCompleted` / `moveToFailed` / `moveToWait` / `moveToDelayed`,
 * each of which BullMQ's Lua scripts refuse when the lock token is not the holder's (that is the
 * lease fence).
 *
 * Fair shares: each tenant's jobs of an inferq queue are a BullMQ queue of their own (the
 * layout is in tenant-queues.ts), so a priority orders only its tenant's jobs, and a lease first
 * plans, in one Lua script, which tenants its jobs come from (fair-lease-plan.ts: the SQL brokers'
 * start-tag rule, weights included), then fetches each slot from its tenant's queue.
 *
 * Retries and dead-lettering are decided here, not by BullMQ's `attempts` option, so that a
 * retry can be given an explicit delay and "dead" means "in BullMQ's failed set". Expired locks
 * are reaped by `reapExpiredLeases` (not BullMQ's two-pass stalled checker, whose first pass only
 * marks jobs): it moves every active job that has no lock back to wait, or to failed when out of
 * attempts.
 *
 * A job id is unique within its queue and tenant (an inferq job id is a task id, whose owner
 * never changes); `hasLiveJob`, `requeueDead` and the counts look through every tenant's queue.
 */
export class RedisBroker implements Broker {
  readonly kind = 'redis';
  readonly capabilities = capabilities;
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #backoff: BackoffPolicy;
  readonly #pollMs: number;
  readonly #tenantQueues: TenantQueueRegistry;
  readonly #views: TenantQueueViews;
  /** Jobs leased through this handle, by token (an ack's fetched job inherits the token). */
  readonly #held = new Map<string, Held>();
  /** Jobs fetched by acks, handed out by the next lease. */
  readonly #prefetched = new PrefetchBuffer((p) => this.#giveBack(p));
  readonly #broadcast: RedisBroadcast;
  readonly #markers: MarkerWaiter;
  readonly #reapTimer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(redis: Redis, options: RedisBrokerOptions) {
    this.#redis = redis;
    this.#prefix = options.prefix ?? 'bull';
    this.#backoff = options.backoff ?? defaultBackoff;
    this.#pollMs = options.pollIntervalMs ?? 200;
    this.#tenantQueues = new TenantQueueRegistry(redis, this.#prefix);
    this.#views = new TenantQueueViews(redis, this.#prefix, this.#tenantQueues);
    this.#broadcast = new RedisBroadcast(redis, this.#prefix);
    this.#markers = new MarkerWaiter(redis);
    if (options.reapIntervalMs !== undefined) {
      this.#reapTimer = setInterval(() => {
        this.reapExpiredLeases().catch(() => undefined);
      }, options.reapIntervalMs);
      this.#reapTimer.unref();
    }
  }

  /** Connects to `url` (`redis://…`); fails with INFERQ_BROKER_UNAVAILABLE when unreachable. */
  static async open(url: string, options: RedisBrokerOptions = {}): Promise<RedisBroker> {
    // BullMQ requires maxRetriesPerRequest: null (commands wait for a reconnect, never give up).
    const redis = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true });
    redis.on('error', () => {});
    try {
      await redis.connect();
    } catch (cause) {
      redis.disconnect();
      throw new InferqError('INFERQ_BROKER_UNAVAILABLE', `cannot reach Redis at ${redactUrl(url)}`, {
        cause,
      });
    }
    return new RedisBroker(redis, options);
  }

  async enqueue(queue: string, job: JobInput): Promise<string> {
    return (await this.enqueueMany(queue, [job]))[0]!;
  }

  async enqueueMany(queue: string, jobs: readonly JobInput[]): Promise<string[]> {
    this.#queue(queue);
    if (jobs.length === 0) return [];
    const ids = jobs.map((job) => job.id ?? newId());
    const byTenant = new Map<string, number[]>();
    const weights = new Map<string, number>();
    for (const [i, job] of jobs.entries()) {
      const tenant = checkJobTenant(job.tenant);
      if (job.weight !== undefined) weights.set(tenant, checkJobWeight(job.weight));
      const indexes = byTenant.get(tenant);
      if (indexes === undefined) byTenant.set(tenant, [i]);
      else indexes.push(i);
    }
    // A tenant is listed before its jobs exist and again after (a plan that found its queue
    // empty in between unlisted it), so no plan misses a tenant's jobs for longer than this call.
    const keys = fairShareKeys(this.#prefix, queue);
    const listed = [...byTenant.keys()]
      .filter((t) => t !== '')
      .flatMap((t) => [t, tenantQueueName(queue, t)]);
    const setup = this.#redis.multi().sadd(this.#queuesKey, queue);
    if (listed.length > 0) setup.hset(keys.tenants, ...listed);
    if (weights.size > 0) setup.hset(keys.weights, ...[...weights].flat());
    await setup.exec();
    await Promise.all(
      [...byTenant].map(([tenant, indexes]) =>
        this.#tenantQueues.addJobs(
          queue,
          tenant,
          indexes.map((i) => ({ job: jobs[i]!, id: ids[i]! })),
        ),
      ),
    );
    if (listed.length > 0) {
      const after = this.#redis.multi().hset(keys.tenants, ...listed);
      // An idle lease waits on the plain queue's marker; BullMQ marks only the tenant's queue.
      if (jobs.some((j) => j.tenant && !(j.delayMs !== undefined && j.delayMs > 0))) {
        after.zadd(`${this.#prefix}:${bullName(queue)}:marker`, 0, '0');
      }
      await after.exec();
    }
    return ids;
  }

  async lease(queue: string, request: LeaseRequest): Promise<LeasedJob[]> {
    this.#queue(queue);
    const max = Math.min(maxLeaseBatch, Math.max(1, Math.floor(request.max)));
    const deadline = Date.now() + Math.max(0, request.waitMs ?? 0);
    this.#prefetched.noteLease(workerKey(bullName(queue), request.leaseMs), queue, max);
    const marker = `${this.#prefix}:${bullName(queue)}:marker`;
    for (;;) {
      const jobs = await this.#takeFair(queue, max, request.leaseMs);
      if (jobs.length > 0 || Date.now() >= deadline || this.#closed) return jobs;
      await this.#markers.wait(marker, Math.min(this.#pollMs, Math.max(1, deadline - Date.now())));
    }
  }

  async extendLeases(leases: readonly JobLease[], leaseMs: number): Promise<string[]> {
    const extended: string[] = [];
    for (const { queue, tenant, group } of groupByTenantQueue(leases)) {
      const failed = new Set<string>(
        await this.#worker(queue, tenant, leaseMs).extendJobLocks(
          group.map((l) => l.id),
          group.map((l) => l.token),
          leaseMs,
        ),
      );
      for (const lease of group) if (!failed.has(lease.id)) extended.push(lease.id);
    }
    return extended;
  }

  /**
   * Completes each job. While this handle keeps leasing from the job's queue, the same script
   * also fetches the job's tenant's next job (BullMQ's fetchNext, as its own Worker does): one
   * script per job instead of two. The next lease's plan counts such prefetched jobs as their
   * tenant's ready jobs and hands them out only in that tenant's turns (see #takeFair), so a
   * prefetch never takes another tenant's share; one its tenant's turns do not reach in time goes
   * back to the queue (PrefetchBuffer).
   */
  async ack(leases: readonly JobLease[]): Promise<number> {
    const results = await Promise.all(
      leases.map(async (lease) => {
        const held = await this.#heldJob(lease);
        if (held === undefined) return 0;
        const prefetch = held.worker !== undefined && !this.#closed && this.#prefetched.reserve(held.kind);
        let next: unknown;
        let done = false;
        try {
          done = await fenced(async () => {
            next = await held.job.moveToCompleted(null, lease.token, prefetch);
          });
        } finally {
          if (prefetch)
            this.#prefetched.settle(
              held.kind,
              done ? this.#fetched(held.worker!, lease.token, next) : undefined,
            );
        }
        this.#forget(lease.token, held.job);
        return done ? 1 : 0;
      }),
    );
    return results.reduce<number>((a, b) => a + b, 0);
  }

  async nack(lease: JobLease, request: NackRequest): Promise<NackOutcome> {
    const held = await this.#heldJob(lease);
    if (held === undefined) return 'stale';
    const job = held.job;
    const data = job.data as JobData;
    const attempts = job.attemptsStarted;
    let outcome: NackOutcome;
    if (request.retryable === false || attempts >= data.maxAttempts) {
      outcome = (await fenced(() => job.moveToFailed(new Error(request.error), lease.token, false)))
        ? 'dead'
        : 'stale';
    } else {
      const delayMs = request.delayMs ?? backoffDelay(attempts, this.#backoff);
      const moved =
        delayMs <= 0
          ? await fenced(() => job.moveToWait(lease.token))
          : await fenced(() => job.moveToDelayed(Date.now() + delayMs, lease.token));
      outcome = moved ? 'retried' : 'stale';
    }
    this.#forget(lease.token, job);
    return outcome;
  }

  async reapExpiredLeases(): Promise<number> {
    let reaped = 0;
    for (const queue of await this.#redis.smembers(this.#queuesKey)) {
      for (const [name, id] of await this.#views.expiredLeases(queue))
        if (await this.#reapOne(name, id)) reaped++;
    }
    return reaped;
  }

  async depth(queue: string): Promise<QueueDepth> {
    this.#queue(queue);
    return this.#views.depth(queue);
  }

  async deadJobs(queue: string, limit = 100): Promise<DeadJob[]> {
    this.#queue(queue);
    return this.#views.deadJobs(queue, Math.max(1, limit));
  }

  async requeueDead(queue: string, id: string): Promise<boolean> {
    this.#queue(queue);
    const job = await this.#views.deadJob(queue, id);
    if (job === undefined || (await job.getState()) !== 'failed') return false;
    return fenced(() => job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true }));
  }

  async hasLiveJob(queue: string, id: string): Promise<boolean> {
    this.#queue(queue);
    return this.#views.hasLiveJob(queue, id);
  }

  async publish(channel: string, message: BroadcastMessage): Promise<void> {
    await this.#broadcast.publish(channel, message);
  }

  async subscribe(channel: string, handler: (message: BroadcastMessage) => void): Promise<Unsubscribe> {
    return this.#broadcast.subscribe(channel, handler);
  }

  async ping(): Promise<void> {
    if (this.#closed) throw new InferqError('INFERQ_BROKER_UNAVAILABLE', 'the Redis broker is closed');
    try {
      await this.#redis.ping();
    } catch (cause) {
      throw new InferqError('INFERQ_BROKER_UNAVAILABLE', 'Redis does not answer', { cause });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#reapTimer !== undefined) clearInterval(this.#reapTimer);
    // Prefetched jobs were never handed out: back to the queue, for other workers.
    await this.#prefetched.releaseAll().catch(() => {});
    await this.#markers.close();
    await this.#broadcast.close();
    await this.#tenantQueues.close();
    this.#held.clear();
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  /**
   * Leases up to `max` jobs fairly: the plan script says which tenant each slot goes to
   * (counting the jobs this handle holds prefetched as their tenant's), then each slot takes its
   * tenant's prefetched job, or else one `getNextJob` (one BullMQ script) on its tenant's queue,
   * all at once, which ioredis pipelines into one round trip. Two round trips for a lease of any
   * size; an empty queue costs the plan alone.
   */
  async #takeFair(queue: string, max: number, leaseMs: number): Promise<LeasedJob[]> {
    const buffered = new Map<string, number>();
    for (const p of this.#prefetched.peek(queue))
      buffered.set(tenantOf(p), (buffered.get(tenantOf(p)) ?? 0) + 1);
    const slots = await planFairLease(this.#redis, {
      keys: fairShareKeys(this.#prefix, queue),
      keyPrefix: `${this.#prefix}:`,
      plainQueue: bullName(queue),
      n: max,
      buffered,
    });
    const wanted = new Map<string, number>();
    for (const tenant of slots) wanted.set(tenant, (wanted.get(tenant) ?? 0) + 1);
    const kind = workerKey(bullName(queue), leaseMs);
    const byTenant = new Map<string, LeasedJob[]>();
    const fetchOne = async (tenant: string): Promise<LeasedJob | undefined> => {
      const worker = this.#worker(queue, tenant, leaseMs);
      const token = leaseToken(randomUUID(), queue, tenant);
      const job = (await worker.getNextJob(token, { block: false })) as Job | undefined;
      // Another worker's plan took the tenant's last job first: this slot stays empty.
      if (job === undefined || job.id === undefined) return undefined;
      return this.#leaseOut(queue, kind, worker, job, token, Date.now() + leaseMs);
    };
    await Promise.all(
      [...wanted].map(async ([tenant, count]) => {
        const held = buffered.get(tenant) ?? 0;
        const fetches = Array.from({ length: Math.max(0, count - held) }, () => fetchOne(tenant));
        const prefetched = held > 0 ? await this.#takePrefetched(queue, tenant, count, leaseMs) : [];
        // Replies of one pipeline arrive in order, so a tenant's jobs are in its queue's order.
        const fetched = (await Promise.all(fetches)).filter((job) => job !== undefined);
        byTenant.set(tenant, [...prefetched, ...fetched]);
      }),
    );
    return slots.map((tenant) => byTenant.get(tenant)!.shift()).filter((job) => job !== undefined);
  }

  /** Moves one expired job back to wait, or to failed when out of attempts. */
  async #reapOne(name: string, id: string): Promise<boolean> {
    const job = await Job.fromId(this.#bullQueue(name), id);
    if (job === undefined) return false;
    const data = job.data as JobData;
    // Token '0' skips BullMQ's lock check: the lock is gone. A job already moved by another
    // reaper is no longer active, and the script refuses it (fenced → false).
    return job.attemptsStarted >= data.maxAttempts
      ? fenced(() =>
          job.moveToFailed(new Error(`lease expired after ${job.attemptsStarted} attempt(s)`), '0', false),
        )
      : fenced(() => job.moveToWait('0'));
  }

  /** The job a lease names, if its token looks like ours (else the lease is stale). */
  async #heldJob(lease: JobLease): Promise<Held | undefined> {
    const held = this.#held.get(lease.token);
    if (held !== undefined && held.job.id === lease.id) return held;
    const target = tokenTarget(lease.token);
    if (target === undefined) return undefined;
    const job = await Job.fromId(this.#bullQueue(tenantQueueName(target.queue, target.tenant)), lease.id);
    return job === undefined ? undefined : { job, queue: target.queue, kind: '', worker: undefined };
  }

  /** Drops the held entry of `token` if it is still `job` (an ack may have refilled it). */
  #forget(token: string, job: Job): void {
    if (this.#held.get(token)?.job === job) this.#held.delete(token);
  }

  /** Records a lease of `job` under `token` and returns what `lease` hands out. */
  #leaseOut(
    queue: string,
    kind: string,
    worker: Worker,
    job: Job,
    token: string,
    expiresAt: number,
  ): LeasedJob {
    const data = job.data as JobData;
    this.#held.set(token, { job, queue, kind, worker });
    return {
      id: job.id!,
      queue,
      payload: data.payload,
      priority: data.priority,
      attempts: job.attemptsStarted,
      maxAttempts: data.maxAttempts,
      enqueuedAt: job.timestamp,
      token,
      leaseExpiresAt: expiresAt,
    };
  }

  /** The job a completing script fetched (raw2NextJobData's `[data, id, …]`), if any. */
  #fetched(worker: Worker, token: string, next: unknown): Prefetched | undefined {
    if (!Array.isArray(next) || next[0] === undefined || next[0] === null || typeof next[1] !== 'string') {
      return undefined;
    }
    return {
      job: Job.fromJSON(worker, next[0], next[1]),
      token,
      fetchedAt: Date.now(),
      leaseMs: worker.opts.lockDuration ?? 0,
    };
  }

  /**
   * Up to `max` prefetched jobs of `tenant` on `queue`, leased out. A fresh one's lock runs from
   * when it was fetched; one that waited longer than `relockAfterFraction` of the lease, or was
   * fetched for another lease length, gets its lock set to `leaseMs` first.
   */
  async #takePrefetched(queue: string, tenant: string, max: number, leaseMs: number): Promise<LeasedJob[]> {
    const taken = this.#prefetched.take(queue, max, (p) => tenantOf(p) === tenant);
    if (taken.length === 0) return [];
    const kind = workerKey(bullName(queue), leaseMs);
    const worker = this.#worker(queue, tenant, leaseMs);
    // A lease hands out (nearly) its full length: the lease loop's first renewal comes a third
    // of it later. A job that waited in the buffer, or was fetched for another lease length, is
    // relocked first; one whose lock is already gone (reaped, perhaps leased elsewhere) is dropped.
    const fetchedBefore = Date.now() - leaseMs * relockAfterFraction;
    const stale = taken.filter((p) => p.leaseMs !== leaseMs || p.fetchedAt < fetchedBefore);
    const relocked = new Set<string>();
    const relockedAt = Date.now();
    if (stale.length > 0) {
      const failed = new Set(
        await worker.extendJobLocks(
          stale.map((p) => p.job.id!),
          stale.map((p) => p.token),
          leaseMs,
        ),
      );
      for (const p of stale) if (!failed.has(p.job.id!)) relocked.add(p.job.id!);
    }
    const fresh = (p: Prefetched) => p.leaseMs === leaseMs && !stale.includes(p);
    return taken
      .filter((p) => fresh(p) || relocked.has(p.job.id!))
      .map((p) =>
        this.#leaseOut(
          queue,
          kind,
          worker,
          p.job,
          p.token,
          fresh(p) ? p.fetchedAt + leaseMs : relockedAt + leaseMs,
        ),
      );
  }

  /**
   * Puts a prefetched job back in the queue, undoing the attempt that fetching it counted
   * (BullMQ counts one when a job goes active), so that an idle or closing worker neither sits
   * on jobs nor uses up their attempts.
   */
  async #giveBack(p: Prefetched): Promise<void> {
    // Undo first: once back in the queue, another worker may lease it (and count) at once.
    const key = `${this.#prefix}:${p.job.queueName}:${p.job.id}`;
    await this.#redis.eval(addToAttemptsScript, 1, key, -1);
    if (!(await fenced(() => p.job.moveToWait(p.token)))) {
      // Not ours any more (the lock expired and it was reaped, counting its attempt): restore.
      await this.#redis.eval(addToAttemptsScript, 1, key, 1);
    }
  }

  /** Checks the name and that the broker is open; the plain (tenant '') queue. */
  #queue(name: string): Queue {
    assertQueueName(name);
    return this.#bullQueue(bullName(name));
  }

  /** The BullMQ queue named `name` (a tenant queue). */
  #bullQueue(name: string): Queue {
    return this.#tenantQueues.queue(name);
  }

  #worker(queue: string, tenant: string, leaseMs: number): Worker {
    return this.#tenantQueues.worker(queue, tenant, leaseMs);
  }

  get #queuesKey(): string {
    return `${this.#prefix}:inferq:queues`;
  }
}

/** The tenant of a prefetched job ('' for jobs from before fair shares). */
function tenantOf(p: Prefetched): string {
  return (p.job.data as JobData).tenant ?? '';
}

/** A BullMQ queue name with a lease length: one worker, and one kind of lease for the prefetch. */
function workerKey(name: string, leaseMs: number): string {
  return `${name}\0${leaseMs}`;
}

/** Leases grouped by the tenant queue their token names (others are stale and left out). */
function groupByTenantQueue(
  leases: readonly JobLease[],
): Array<{ queue: string; tenant: string; group: JobLease[] }> {
  const groups = new Map<string, { queue: string; tenant: string; group: JobLease[] }>();
  for (const lease of leases) {
    const target = tokenTarget(lease.token);
    if (target === undefined) continue;
    const key = tenantQueueName(target.queue, target.tenant);
    const entry = groups.get(key) ?? { ...target, group: [] };
    entry.group.push(lease);
    groups.set(key, entry);
  }
  return [...groups.values()];
}

/**
 * Runs a BullMQ state move; false when BullMQ's script refused it (lock missing or not ours, job
 * gone or not in the expected state — all carry a numeric `code`). Anything else (Redis down)
 * is a real error and propagates.
 */
async function fenced(move: () => Promise<unknown>): Promise<boolean> {
  try {
    await move();
    return true;
  } catch (err) {
    if (typeof (err as { code?: unknown } | null)?.code === 'number') return false;
    throw err;
  }
}
