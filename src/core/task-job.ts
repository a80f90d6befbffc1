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
 * How many times a broker may deliver a task's job before it dead-letters it: far more than any
 * task is attempted, so in practice never. The broker's delivery count is not the attempt
 * count: the store counts attempts, on the task row, at each claim (store/task-lease.ts), and
 * fails a task whose last attempt was lost (`INFERQ_WORKER_LOST`) when the job comes back after
 * that lease expired. Deliveries that run nothing are not attempts: a duplicate of a job whose
 * task another worker holds is put back until that lease runs out (processBatch). The ceiling
 * only stops a job that something keeps putting back from circulating for ever.
 */
export const taskJobDeliveries = 10_000;

/**
 * The job that runs `task`: its id is the task id, so a broker that dedupes by id (SQLite,
 * Redis) holds one job per task; one that cannot (RabbitMQ) may hold two, which the claim makes
 * harmless (the task row is the lease).
 */
export function taskJob(task: Task): JobInput {
  const payload: TaskJobPayload = { taskId: task.id };
  return {
    id: task.id,
    payload,
    tenant: task.owner,
    priority: task.priority,
    maxAttempts: taskJobDeliveries,
  };
}

/** Tenants' fair-share weights (`JobInput.weight`) by tenant id: a tenant not in it keeps its last one. */
export type TenantWeights = ReadonlyMap<string, number>;

/**
 * The jobs of the `queued` tasks among `tasks` (those `include` keeps), grouped by queue
 * (`name@version`); each job carries its owner's weight where `weights` has one.
 */
export function taskJobsByQueue(
  tasks: readonly Task[],
  include: (task: Task) => boolean = () => true,
  weights?: TenantWeights,
): Map<string, JobInput[]> {
  const byQueue = new Map<string, JobInput[]>();
  for (const task of tasks) {
    if (task.state !== 'queued' || !include(task)) continue;
    const queue = targetRef(task.target);
    const weight = weights?.get(task.owner);
    const job = weight === undefined ? taskJob(task) : { ...taskJob(task), weight };
    const jobs = byQueue.get(queue);
    if (jobs === undefined) byQueue.set(queue, [job]);
    else jobs.push(job);
  }
  return byQueue;
}

/**
 * Writes the jobs of tasks being created, synchronously, inside the task store's transaction
 * that creates them: the task and its job commit together, so no task is ever durable without
 * its job (nothing for an outbox sweeper to do). It is given the created tasks (it writes the
 * jobs of the queued ones, `taskJobsByQueue`) and their owners' weights; a throw rolls the tasks
 * back. The embedded broker gives one when its tables live in the task database
 * (`SqliteBroker.inTaskDatabase`); `cli` hands it to the store.
 */
export type TaskJobWriter = (tasks: readonly Task[], weights?: TenantWeights) => void;
