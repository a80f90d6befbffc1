import type { Logger } from 'pino';
import type { Task } from '../../core/task.js';
import { taskJob } from '../../core/task-job.js';
import { isFinalState } from '../../core/task-state.js';
import type { Broker } from '../../queue/broker.js';
import type { TaskStore } from '../../store/task-store.js';
import { startPeriodic } from './periodic.js';

export interface SweepPipelinesOptions {
  store: TaskStore;
  broker: Broker;
  /** The pipeline queues to sweep (`name@version`), as the coordinator serves them. */
  pipelines: readonly string[];
  /**
   * Only pipelines quiet this long: nothing of theirs (the task, a step) changed since. A
   * younger one may have its wake-up in flight.
   */
  graceMs: number;
  /** At most this many running pipeline tasks looked at per pipeline and sweep. */
  limit?: number;
  now?: number;
}

/**
 * The pipeline sweeper. A pipeline moves on when a model worker, having written a step's
 * result, enqueues a wake-up for its parent (pipeline/notify-parents.ts). That wake-up can be lost: the
 * worker's job redelivered until its attempts ran out, a broker that lost messages (Redis
 * without persistence), a wake-up dead-lettered after its advances kept failing. The parent is
 * then `running` with every step final and nothing left to wake it. Each such task, quiet for
 * `graceMs`, gets a wake-up job on its pipeline's queue with the task's own id as job id, so a
 * sweep racing a live job (or several hosts sweeping at once) adds none where the broker
 * dedupes by id; and the advance it triggers is idempotent anyway (pipeline/advance-pipeline.ts), so
 * the pipeline finishes once however many wake-ups arrive. Returns how many were woken.
 *
 * A task with a step still queued or running is left alone: that step has its own job (the
 * job is written with it in the embedded layout; elsewhere the outbox sweeper re-enqueues a
 * queued task that lost it; the broker's reaper an expired lease),
 * and its completion will wake the parent.
 */
export async function sweepStalledPipelines(options: SweepPipelinesOptions): Promise<number> {
  const { store, broker } = options;
  const limit = options.limit ?? 500;
  const quietSince = (options.now ?? Date.now()) - options.graceMs;
  let woken = 0;
  for (const queue of options.pipelines) {
    let cursor: string | undefined;
    let seen = 0;
    do {
      const page = await store.listTasks(
        { state: 'running', target: queue, createdTo: quietSince },
        { limit: Math.min(500, limit - seen), ...(cursor ? { cursor } : {}) },
      );
      for (const parent of page.items) {
        // The parent's own row first: a recently changed one needs no read of its steps.
        if (parent.target.kind !== 'pipeline' || parent.updatedAt > quietSince) continue;
        if (!stepsSettledBefore(await store.listChildTasks(parent.id), quietSince)) continue;
        await broker.enqueue(queue, taskJob(parent));
        woken++;
      }
      seen += page.items.length;
      cursor = page.nextCursor;
    } while (cursor !== undefined && seen < limit);
  }
  return woken;
}

/** Every step final, and none finished or changed since `quietSince`. */
function stepsSettledBefore(children: readonly Task[], quietSince: number): boolean {
  for (const child of children) {
    if (!isFinalState(child.state)) return false;
    if ((child.finishedAt ?? child.updatedAt) > quietSince) return false;
  }
  return true;
}

/** Runs {@link sweepStalledPipelines} every `intervalMs` (unref'd, never overlapping) until stopped. */
export function startPipelineSweeper(
  options: Omit<SweepPipelinesOptions, 'now'> & { intervalMs: number; logger?: Logger },
): { stop(): Promise<void> } {
  return startPeriodic(
    () =>
      sweepStalledPipelines(options).then(
        (woken) => {
          if (woken > 0) {
            options.logger?.warn({ woken }, 'pipeline sweeper woke pipeline tasks whose wake-up was lost');
          }
        },
        (err: unknown) => options.logger?.error({ err }, 'pipeline sweep failed'),
      ),
    options.intervalMs,
  );
}
