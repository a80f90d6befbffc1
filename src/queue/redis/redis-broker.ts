import { randomUUID } from 'node:crypto';
import { Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { type BackoffPolicy, backoffDelay, defaultBackoff } from '../../core/backoff.js';
import { newId } from '../../core/ids.js';
import {
  assertQueueName,
  type BroadcastMessage,
  type DeadJob,
  defaultMaxAttempts,
  isValidQueueName,
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
import { MarkerWaiter } from './marker-waiter.js';
import { PrefetchBuffer, type Prefetched } from './prefetch-buffer.js';
import { RedisBroadcast } from './redis-broadcast.js';

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
  /** The worker key (queue + lease length) it was fetched with; ack prefetches for it. */
  key: string;
}

/** What inferq keeps in a BullMQ job's `data`. */
interface JobData {
  payload: unknown;
  maxAttempts: number;
  priority: number;
}

const capabilities: BrokerCapabilities = Object.freeze({
  priorities: true,
  delayedJobs: true,
  dedupeById: true,
  deadLetterInspection: true,
  broadcast: true,
  distributed: true,
  liveJobLookup: true,
  fairShares: false,
});

const missingCapabilities = Object.freeze({
  fairShares:
    "one BullMQ queue per inferq queue serves every tenant's jobs in one priority order; " +
    'per-tenant turns (BullMQ groups) are a BullMQ Pro feature, and one sub-queue per tenant leased in turn is not built yet',
});

/**
 * BullMQ orders prioritized jobs by ascending number (1 first) and serves its plain wait list
 * before any of them; inferq's priorities are "higher first" with 0 as the default. So every job
 * goes to the prioritized set at `neutral - priority`, which keeps FIFO within one priority.
 */
const neutralPriority = 1_000_000;
const maxBullPriority = 2_097_151;
const maxLeaseBatch = 1_000;
/** Adds ARGV[1] to a job's started-attempts count, unless the job is gone (no stray key). */
const addToAttemptsScript = `if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HINCRBY', KEYS[1], 'ats', ARGV[1])
end
return false`;
/** Lease tokens carry their queue (`<uuid>|<queue>`): ack and nack get only `{ id, token }`. */
const tokenSeparator = '|';
/**
 * A prefetched job older than this fraction of its lease is relocked when leased out: before,
 * one that waited a second of a 2 s lease was handed out with 1 s left, a third of a second
 * after the loop's first renewal was due, and on a loaded host its lock expired under a live
 * worker, which ran it again elsewhere.
 */
const relockAfterFraction = 1 / 6;

/**
 * The Redis broker, on BullMQ: every inferq queue is a BullMQ queue (so @bull-board shows it),
 * and leases are BullMQ's manual fetching — a `Worker` with no processor hands out jobs with
 * `getNextJob(token)` under a lock of `leaseMs`, extended with `extendLocks`, ended with
 * `moveToCompleted` / `moveToFailed` / `moveToWait` / `moveToDelayed`, each of which BullMQ's
 * Lua scripts refuse when the lock token is not the holder's (that is the lease fence).
 *
 * Retries and dead-lettering are decided here, not by BullMQ's `attempts` option, so that a
 * retry can be given an explicit delay and "dead" means "in BullMQ's failed set". Expired locks
 * are reaped by `reapExpiredLeases` (not BullMQ's two-pass stalled checker, whose first pass only
 * marks jobs): it moves every active job that has no lock back to wait, or to failed when out of
 * attempts.
 */
export class RedisBroker implements Broker {
  readonly kind = 'redis';
  readonly capabilities = capabilities;
  readonly missingCapabilities = missingCapabilities;
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #backoff: BackoffPolicy;
  readonly #pollMs: number;
  readonly #queues = new Map<string, Queue>();
  readonly #workers = new Map<string, Worker>();
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
    const q = this.#queue(queue);
    if (jobs.length === 0) return [];
    const ids = jobs.map((job) => job.id ?? newId());
    // BullMQ ignores an add whose id exists in any state. Live ids must stay deduplicated, but a
    // dead (failed) job's id must start a fresh job: remove those first.
    const given = [...new Set(jobs.filter((j) => j.id !== undefined).map((j) => j.id!))];
    if (given.length > 0) {
      const failedKey = `${this.#prefix}:${bullName(queue)}:failed`;
      const scores = await this.#redis.pipeline(given.map((id) => ['zscore', failedKey, id])).exec();
      const dead = given.filter((_, i) => scores?.[i]?.[1] !== null);
      for (const id of dead) await q.remove(id).catch(() => 0);
    }
    await this.#redis.sadd(this.#queuesKey, queue);
    await q.addBulk(
      jobs.map((job, i) => {
        const priority = job.priority ?? 0;
        const data: JobData = {
          payload: job.payload,
          maxAttempts: job.maxAttempts ?? defaultMaxAttempts,
          priority,
        };
        return {
          name: 'job',
          data,
          opts: {
            jobId: ids[i]!,
            priority: Math.min(maxBullPriority, Math.max(1, neutralPriority - priority)),
            ...(job.delayMs !== undefined && job.delayMs > 0 ? { delay: job.delayMs } : {}),
            // Acked jobs leave no trace (and free their id); dead ones stay for inspection.
            removeOnComplete: true,
            removeOnFail: false,
          },
        };
      }),
    );
    return ids;
  }

  async lease(queue: string, request: LeaseRequest): Promise<LeasedJob[]> {
    this.#queue(queue);
    const max = Math.min(maxLeaseBatch, Math.max(1, Math.floor(request.max)));
    const deadline = Date.now() + Math.max(0, request.waitMs ?? 0);
    this.#prefetched.noteLease(workerKey(queue, request.leaseMs), queue, max);
    const marker = `${this.#prefix}:${bullName(queue)}:marker`;
    for (;;) {
      const jobs = await this.#takePrefetched(queue, max, request.leaseMs);
      if (jobs.length < max) jobs.push(...(await this.#take(queue, max - jobs.length, request.leaseMs)));
      if (jobs.length > 0 || Date.now() >= deadline || this.#closed) return jobs;
      await this.#markers.wait(marker, Math.min(this.#pollMs, Math.max(1, deadline - Date.now())));
    }
  }

  async extendLeases(leases: readonly JobLease[], leaseMs: number): Promise<string[]> {
    const byQueue = groupByQueue(leases);
    const extended: string[] = [];
    for (const [queue, group] of byQueue) {
      const failed = new Set<string>(
        await this.#worker(queue, leaseMs).extendJobLocks(
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
   * also fetches the queue's next job (BullMQ's fetchNext, as its own Worker does), which the
   * next `lease` hands out without a round trip: one script per job instead of two.
   */
  async ack(leases: readonly JobLease[]): Promise<number> {
    const results = await Promise.all(
      leases.map(async (lease) => {
        const held = await this.#heldJob(lease);
        if (held === undefined) return 0;
        const prefetch = held.key !== '' && !this.#closed && this.#prefetched.reserve(held.key);
        let next: unknown;
        let done = false;
        try {
          done = await fenced(async () => {
            next = await held.job.moveToCompleted(null, lease.token, prefetch);
          });
        } finally {
          if (prefetch)
            this.#prefetched.settle(held.key, done ? this.#fetched(held.key, lease.token, next) : undefined);
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
    const queues = await this.#redis.smembers(this.#queuesKey);
    let reaped = 0;
    for (const queue of queues) {
      const base = `${this.#prefix}:${bullName(queue)}`;
      const active = await this.#redis.lrange(`${base}:active`, 0, -1);
      if (active.length === 0) continue;
      const locks = await this.#redis.pipeline(active.map((id) => ['exists', `${base}:${id}:lock`])).exec();
      const expired = active.filter((_, i) => locks?.[i]?.[1] === 0);
      for (const id of expired) {
        const job = await Job.fromId(this.#queue(queue), id);
        if (job === undefined) continue;
        const data = job.data as JobData;
        // Token '0' skips BullMQ's lock check: the lock is gone. A job already moved by another
        // reaper is no longer active, and the script refuses it (fenced → false).
        const moved =
          job.attemptsStarted >= data.maxAttempts
            ? await fenced(() =>
                job.moveToFailed(
                  new Error(`lease expired after ${job.attemptsStarted} attempt(s)`),
                  '0',
                  false,
                ),
              )
            : await fenced(() => job.moveToWait('0'));
        if (moved) reaped++;
      }
    }
    return reaped;
  }

  async depth(queue: string): Promise<QueueDepth> {
    const counts = await this.#queue(queue).getJobCounts(
      'wait',
      'prioritized',
      'delayed',
      'active',
      'failed',
    );
    return {
      waiting: (counts.wait ?? 0) + (counts.prioritized ?? 0),
      delayed: counts.delayed ?? 0,
      leased: counts.active ?? 0,
      dead: counts.failed ?? 0,
    };
  }

  async deadJobs(queue: string, limit = 100): Promise<DeadJob[]> {
    const jobs = await this.#queue(queue).getFailed(0, Math.max(1, limit) - 1);
    return jobs.map((job) => ({
      id: job.id!,
      queue,
      payload: (job.data as JobData).payload,
      attempts: job.attemptsStarted,
      error: job.failedReason ?? null,
      failedAt: job.finishedOn ?? job.timestamp,
    }));
  }

  async requeueDead(queue: string, id: string): Promise<boolean> {
    const q = this.#queue(queue);
    const job = await Job.fromId(q, id);
    if (job === undefined || (await job.getState()) !== 'failed') return false;
    return fenced(() => job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true }));
  }

  async hasLiveJob(queue: string, id: string): Promise<boolean> {
    const state = await this.#queue(queue).getJobState(id);
    return state === 'waiting' || state === 'prioritized' || state === 'delayed' || state === 'active';
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
    await Promise.all([...this.#workers.values()].map((w) => w.close(true)));
    await Promise.all([...this.#queues.values()].map((q) => q.close()));
    this.#held.clear();
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  /**
   * Leases up to `max` jobs, one `getNextJob` (one Lua script run) each. The first fetch goes
   * with a count of the jobs ready (both in flight at once, one round trip), so an empty queue
   * costs one script per poll; once it finds a job, as many fetches as the count allows go
   * concurrently, which ioredis pipelines into one round trip per wave (sequential fetches cost a
   * round trip per job: bench/distributed.ts measured 0.75× raw BullMQ that way). Waves go on,
   * each after a fresh count, until `max` or a fetch finds the queue empty. Without the count, a
   * wave of `max - 1` fetches on a queue of two jobs ran 62 scripts for nothing.
   */
  async #take(queue: string, max: number, leaseMs: number): Promise<LeasedJob[]> {
    const worker = this.#worker(queue, leaseMs);
    const leased: LeasedJob[] = [];
    const fetchOne = async (): Promise<boolean> => {
      const token = `${randomUUID()}${tokenSeparator}${queue}`;
      const job = (await worker.getNextJob(token, { block: false })) as Job | undefined;
      if (job === undefined || job.id === undefined) return false;
      leased.push(this.#leaseOut(queue, workerKey(queue, leaseMs), job, token, Date.now() + leaseMs));
      return true;
    };
    const [found, counted] = await Promise.all([fetchOne(), this.#readyCount(queue)]);
    // The count may or may not have seen the first job before the fetch took it: at most one
    // fetch of the next wave finds nothing.
    let ready = counted;
    while (found && leased.length < max && ready > 0) {
      const wave = await Promise.all(Array.from({ length: Math.min(ready, max - leased.length) }, fetchOne));
      if (wave.includes(false) || leased.length >= max) break;
      ready = await this.#readyCount(queue);
    }
    // Replies of one pipeline arrive in order, so `leased` is in the queue's order.
    return leased;
  }

  /** Jobs that a fetch can take now: waiting or prioritized (not delayed, not paused). */
  async #readyCount(queue: string): Promise<number> {
    const counts = await this.#queue(queue).getJobCounts('wait', 'prioritized');
    return (counts.wait ?? 0) + (counts.prioritized ?? 0);
  }

  /** The job a lease names, if its token looks like ours (else the lease is stale). */
  async #heldJob(lease: JobLease): Promise<Held | undefined> {
    const held = this.#held.get(lease.token);
    if (held !== undefined && held.job.id === lease.id) return held;
    const queue = queueOfToken(lease.token);
    if (queue === undefined) return undefined;
    const job = await Job.fromId(this.#queue(queue), lease.id);
    return job === undefined ? undefined : { job, key: '' };
  }

  /** Drops the held entry of `token` if it is still `job` (an ack may have refilled it). */
  #forget(token: string, job: Job): void {
    if (this.#held.get(token)?.job === job) this.#held.delete(token);
  }

  /** Records a lease of `job` under `token` and returns what `lease` hands out. */
  #leaseOut(queue: string, key: string, job: Job, token: string, expiresAt: number): LeasedJob {
    const data = job.data as JobData;
    this.#held.set(token, { job, key });
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
  #fetched(key: string, token: string, next: unknown): Prefetched | undefined {
    if (!Array.isArray(next) || next[0] === undefined || next[0] === null || typeof next[1] !== 'string') {
      return undefined;
    }
    const worker = this.#workers.get(key);
    if (worker === undefined) return undefined;
    return {
      job: Job.fromJSON(worker, next[0], next[1]),
      token,
      fetchedAt: Date.now(),
      leaseMs: worker.opts.lockDuration ?? 0,
    };
  }

  /**
   * Up to `max` prefetched jobs of `queue`, leased out. A fresh one's lock runs from when it
   * was fetched; one that waited longer than `relockAfterFraction` of the lease, or was fetched
   * for another lease length, gets its lock set to `leaseMs` first.
   */
  async #takePrefetched(queue: string, max: number, leaseMs: number): Promise<LeasedJob[]> {
    const taken = this.#prefetched.take(queue, max);
    if (taken.length === 0) return [];
    const key = workerKey(queue, leaseMs);
    // A lease hands out (nearly) its full length: the lease loop's first renewal comes a third
    // of it later. A job that waited in the buffer, or was fetched for another lease length, is
    // relocked first; one whose lock is already gone (reaped, perhaps leased elsewhere) is dropped.
    const fetchedBefore = Date.now() - leaseMs * relockAfterFraction;
    const stale = taken.filter((p) => p.leaseMs !== leaseMs || p.fetchedAt < fetchedBefore);
    const relocked = new Set<string>();
    const relockedAt = Date.now();
    if (stale.length > 0) {
      const failed = new Set(
        await this.#worker(queue, leaseMs).extendJobLocks(
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
        this.#leaseOut(queue, key, p.job, p.token, fresh(p) ? p.fetchedAt + leaseMs : relockedAt + leaseMs),
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

  #queue(name: string): Queue {
    assertQueueName(name);
    if (this.#closed) throw new InferqError('INFERQ_BROKER_UNAVAILABLE', 'the Redis broker is closed');
    let queue = this.#queues.get(name);
    if (queue === undefined) {
      queue = new Queue(bullName(name), { connection: this.#redis, prefix: this.#prefix });
      queue.on('error', () => {});
      this.#queues.set(name, queue);
    }
    return queue;
  }

  /**
   * A processor-less worker per (queue, lease length): BullMQ sets the lock of a fetched job to
   * the worker's `lockDuration`, so one lease length needs one worker. Workers use a fixed lease
   * in practice, so this stays at one or two per queue.
   */
  #worker(queue: string, leaseMs: number): Worker {
    const key = workerKey(queue, leaseMs);
    let worker = this.#workers.get(key);
    if (worker === undefined) {
      worker = new Worker(bullName(queue), null, {
        connection: this.#redis,
        prefix: this.#prefix,
        autorun: false,
        lockDuration: Math.max(1, Math.floor(leaseMs)),
      });
      worker.on('error', () => {});
      this.#workers.set(key, worker);
    }
    return worker;
  }

  get #queuesKey(): string {
    return `${this.#prefix}:inferq:queues`;
  }
}

function workerKey(queue: string, leaseMs: number): string {
  return `${queue}\0${leaseMs}`;
}

/** BullMQ refuses ':' in queue names (its key separator); inferq allows it. '%' never occurs in ours. */
function bullName(queue: string): string {
  return queue.replaceAll(':', '%3A');
}

function queueOfToken(token: string): string | undefined {
  const at = token.indexOf(tokenSeparator);
  const queue = at < 0 ? '' : token.slice(at + 1);
  return isValidQueueName(queue) ? queue : undefined;
}

function groupByQueue(leases: readonly JobLease[]): Map<string, JobLease[]> {
  const groups = new Map<string, JobLease[]>();
  for (const lease of leases) {
    const queue = queueOfToken(lease.token);
    if (queue === undefined) continue;
    const group = groups.get(queue) ?? [];
    group.push(lease);
    groups.set(queue, group);
  }
  return groups;
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
