import { InferqError } from '../errors/index.js';
import { isId } from './ids.js';
import type { JobInput } from './job.js';
import { type Task, targetRef } from './task.js';

/** The payload of a job that runs one task on one model. */
export interface TaskJobPayload {
  taskId: string;
}

/**
 * Validates a payload read from the broker. Stored payloads may come from older or foreign
 * code, so they are checked again here, not trusted because the API once checked them.
 */
export function parseTaskJobPayload(payload: unknown): TaskJobPayload {
  if (payload !== null && typeof payload === 'object' && isId((payload as { taskId?: unknown }).taskId)) {
    return { taskId: (payload as { taskId: string }).taskId };
  }
  throw new InferqError(
    'INFERQ_JOB_PAYLOAD_INVALID',
    'job payload must be an object with a taskId (a UUID)',
    {
      details: { payload: JSON.stringify(payload)?.slice(0, 200) },
    },
  );
}

/**
 * The job that runs `task`: its id is the task id, so the broker dedupes a second enqueue.
 *
 * The job may be delivered once more than the task may be attempted. A worker settles every
 * attempt that ends (a retry is a nack, a final outcome an ack), so the broker counts more
 * deliveries than the task has attempts only when attempts were lost: the worker crashed, was
 * killed or lost its lease. Without the extra delivery the broker would dead-letter the job
 * when the last lease expired, and the task would stay `running` for ever; with it, a worker
 * gets the job once more and fails the task (`INFERQ_WORKER_LOST`, see processBatch) instead of
 * running it, so a task that crashes every worker that runs it ends like any other failure.
 */
export function taskJob(task: Task): JobInput {
  const payload: TaskJobPayload = { taskId: task.id };
  return {
    id: task.id,
    payload,
    tenant: task.owner,
    priority: task.priority,
    maxAttempts: task.maxAttempts + 1,
  };
}

/** The jobs of the `queued` tasks among `tasks` (those `include` keeps), grouped by queue (`name@version`). */
export function taskJobsByQueue(
  tasks: readonly Task[],
  include: (task: Task) => boolean = () => true,
): Map<string, JobInput[]> {
  const byQueue = new Map<string, JobInput[]>();
  for (const task of tasks) {
    if (task.state !== 'queued' || !include(task)) continue;
    const queue = targetRef(task.target);
    const jobs = byQueue.get(queue);
    if (jobs === undefined) byQueue.set(queue, [taskJob(task)]);
    else jobs.push(taskJob(task));
  }
  return byQueue;
}
