import { targetRef } from '../../core/task.js';
import { taskJob } from '../../core/task-job.js';
import type { Broker } from '../../queue/broker.js';
import type { TaskStore } from '../../store/task-store.js';

export interface RequeueExpiredLeasesOptions {
  store: TaskStore;
  broker: Broker;
  /** Only leases that ran out at least this long ago: the broker's own redelivery comes first. */
  graceMs: number;
  /** At most this many tasks per pass. */
  limit?: number;
  now?: number;
}

/**
 * The store-side reaper. A model task `running` under a row lease that ran out (its worker
 * crashed, was killed or cut off) normally comes back through the broker, which redelivers the
 * job its worker held. When that job is gone too (a Redis that restarted empty, a message lost
 * with its node), nothing would ever run the task again: so each such task, once its lease has
 * been over for `graceMs`, gets its job enqueued again. The claim that job brings takes the
 * expired lease over and counts the attempt, or, every attempt used, fails the task
 * `INFERQ_WORKER_LOST` (`planClaim`, store/task-lease.ts). Returns how many jobs were enqueued.
 *
 * With `liveJobLookup`, a task whose job is still live (waiting for the broker's reaper, or
 * leased again) is left to it. Without (RabbitMQ), the job is enqueued whether or not a copy
 * is live: the task row is the lease, so a duplicate runs nothing (`processBatch` finds the
 * task held or final, puts the copy back until the lease ends, then acks it). Only tasks whose
 * lease is over are listed, and those are few (at most the batches their dead workers held), so
 * the copies are few too; one that waits behind a long queue may gain one copy per pass.
 */
export async function requeueExpiredLeases(options: RequeueExpiredLeasesOptions): Promise<number> {
  const { store, broker } = options;
  const before = (options.now ?? Date.now()) - options.graceMs;
  const lookup = broker.capabilities.liveJobLookup;
  let requeued = 0;
  for (const task of await store.listExpiredLeases(before, options.limit ?? 500)) {
    const queue = targetRef(task.target);
    if (lookup && (await broker.hasLiveJob(queue, task.id))) continue;
    await broker.enqueue(queue, taskJob(task));
    requeued++;
  }
  return requeued;
}
