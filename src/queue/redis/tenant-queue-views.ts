import { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { DeadJob } from '../../core/job.js';
import type { QueueDepth } from '../broker.js';
import type { JobData, TenantQueueRegistry } from './tenant-queue-registry.js';

/**
 * RedisBroker's views of one inferq queue across its tenant queues (tenant-queues.ts): counts
 * summed, dead jobs merged, a job found by id in whichever tenant's queue holds it.
 */
export class TenantQueueViews {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #registry: TenantQueueRegistry;

  constructor(redis: Redis, prefix: string, registry: TenantQueueRegistry) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#registry = registry;
  }

  async depth(queue: string): Promise<QueueDepth> {
    const counts = await Promise.all(
      (await this.#registry.names(queue)).map((name) =>
        this.#registry.queue(name).getJobCounts('wait', 'prioritized', 'delayed', 'active', 'failed'),
      ),
    );
    const sum = (state: string) => counts.reduce((total, c) => total + (c[state] ?? 0), 0);
    return {
      waiting: sum('wait') + sum('prioritized'),
      delayed: sum('delayed'),
      leased: sum('active'),
      dead: sum('failed'),
    };
  }

  /** Up to `limit` dead jobs of every tenant, newest first (as BullMQ lists one queue's). */
  async deadJobs(queue: string, limit: number): Promise<DeadJob[]> {
    const lists = await Promise.all(
      (await this.#registry.names(queue)).map((name) => this.#registry.queue(name).getFailed(0, limit - 1)),
    );
    const dead = lists.flat().map((job) => ({
      id: job.id!,
      queue,
      payload: (job.data as JobData).payload,
      attempts: job.attemptsStarted,
      error: job.failedReason ?? null,
      failedAt: job.finishedOn ?? job.timestamp,
    }));
    return dead.sort((a, b) => b.failedAt - a.failedAt).slice(0, limit);
  }

  /** The dead job `id` of `queue`, in whichever tenant's queue holds it. */
  async deadJob(queue: string, id: string): Promise<Job | undefined> {
    const names = await this.#registry.names(queue);
    const scores = await this.#redis
      .pipeline(names.map((name) => ['zscore', `${this.#prefix}:${name}:failed`, id]))
      .exec();
    const name = names.find((_, i) => typeof scores?.[i]?.[1] === 'string');
    return name === undefined ? undefined : Job.fromId(this.#registry.queue(name), id);
  }

  /** Whether any tenant's queue of `queue` holds `id` waiting, delayed or leased. */
  async hasLiveJob(queue: string, id: string): Promise<boolean> {
    const states = await Promise.all(
      (await this.#registry.names(queue)).map((name) => this.#registry.queue(name).getJobState(id)),
    );
    return states.some(
      (state) => state === 'waiting' || state === 'prioritized' || state === 'delayed' || state === 'active',
    );
  }

  /** Active jobs whose lock is gone, as [BullMQ queue name, job id], over every tenant queue. */
  async expiredLeases(queue: string): Promise<Array<[string, string]>> {
    const names = await this.#registry.names(queue);
    const actives = await this.#redis
      .pipeline(names.map((name) => ['lrange', `${this.#prefix}:${name}:active`, 0, -1]))
      .exec();
    const expired: Array<[string, string]> = [];
    for (const [n, name] of names.entries()) {
      const active = (actives?.[n]?.[1] as string[] | undefined) ?? [];
      if (active.length === 0) continue;
      const base = `${this.#prefix}:${name}`;
      const locks = await this.#redis.pipeline(active.map((id) => ['exists', `${base}:${id}:lock`])).exec();
      for (const [i, id] of active.entries()) if (locks?.[i]?.[1] === 0) expired.push([name, id]);
    }
    return expired;
  }
}
