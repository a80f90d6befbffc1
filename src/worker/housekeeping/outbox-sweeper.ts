import type { Logger } from 'pino';
import { targetRef } from '../../core/task.js';
import { taskJob } from '../../core/task-job.js';
import type { Broker } from '../../queue/broker.js';
import type { TaskStore } from '../../store/task-store.js';
import { startPeriodic } from './periodic.js';
import { requeueExpiredLeases } from './requeue-expired-leases.js';

export interface SweepOutboxOptions {
  store: TaskStore;
  broker: Broker;
  /**
   * Only tasks queued at least this long ago (younger ones may be mid-submission), and running
   * tasks whose row lease ran out at least this long ago (the broker redelivers those first).
   */
  graceMs: number;
  /** At most this many tasks per sweep (oldest pages are reached over several sweeps). */
  limit?: number;
  now?: number;
}

/**
 * The outbox sweeper. The API writes a task, then enqueues its job: two systems, so an enqueue
 * can fail (broker down) or a broker can lose messages (a Redis without persistence). Every
 * task still `queued` after the grace period whose job is not live in the broker is enqueued
 * again, with the task id as job id so that a sweep racing a late enqueue, or several hosts
 * sweeping at once, never makes two jobs. A task lost while it ran (its worker gone, and its
 * job with it) is enqueued again too: {@link requeueExpiredLeases}, on every broker. Returns how
 * many tasks were re-enqueued.
 *
 * A broker without `liveJobLookup` (RabbitMQ) cannot tell a lost job from a live one, so there
 * the sweep of `queued` tasks stands down: re-enqueueing every old queued task would copy the
 * whole backlog on each pass. A lost enqueue is covered there by publisher confirms instead:
 * `enqueue` resolves only once RabbitMQ has the message, so the API sees every failed enqueue
 * as an error.
 */
export async function sweepOutbox(options: SweepOutboxOptions): Promise<number> {
  const requeued = await requeueExpiredLeases(options);
  return requeued + (options.broker.capabilities.liveJobLookup ? await sweepQueued(options) : 0);
}

async function sweepQueued(options: SweepOutboxOptions): Promise<number> {
  const { store, broker } = options;
  const limit = options.limit ?? 1_000;
  const createdTo = (options.now ?? Date.now()) - options.graceMs;
  let cursor: string | undefined;
  let seen = 0;
  let requeued = 0;
  do {
    const page = await store.listTasks(
      { state: 'queued', createdTo },
      { limit: Math.min(500, limit - seen), ...(cursor ? { cursor } : {}) },
    );
    for (const task of page.items) {
      const queue = targetRef(task.target);
      if (await broker.hasLiveJob(queue, task.id)) continue;
      await broker.enqueue(queue, taskJob(task));
      requeued++;
    }
    seen += page.items.length;
    cursor = page.nextCursor;
  } while (cursor !== undefined && seen < limit);
  return requeued;
}

/** Runs {@link sweepOutbox} every `intervalMs` (unref'd, never overlapping) until stopped. */
export function startOutboxSweeper(
  options: Omit<SweepOutboxOptions, 'now'> & { intervalMs: number; logger?: Logger },
): { stop(): Promise<void> } {
  return startPeriodic(
    () =>
      sweepOutbox(options).then(
        (requeued) => {
          if (requeued > 0)
            options.logger?.warn(
              { requeued },
              'outbox sweeper re-enqueued tasks that had no job (queued, or running under an expired lease)',
            );
        },
        (err: unknown) => options.logger?.error({ err }, 'outbox sweep failed'),
      ),
    options.intervalMs,
  );
}
