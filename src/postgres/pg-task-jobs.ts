import type { Task } from '../core/task.js';
import type { TenantWeights } from '../core/task-job.js';

/** One statement with positional parameters (`$1`…), as pg's `client.query(text, values)` runs it. */
export interface PgStatement {
  text: string;
  values: unknown[];
}

/**
 * The PostgreSQL counterpart of core's `TaskJobWriter`: given the tasks being created (it takes
 * the queued ones, `taskJobsByQueue`) and their owners' weights, the statements that write their
 * jobs, which the PostgreSQL task store runs on its own transaction's client, after the task
 * rows and before COMMIT. The task and its job commit together (PostgreSQL alone: the broker's
 * `broker_jobs` in the task store's schema), and the wake-up NOTIFY the statements send is
 * delivered at that commit, never for tasks rolled back. A throw, or a statement that fails,
 * rolls the tasks back. The postgres broker gives one (`PostgresBroker.taskJobStatements`), built
 * on the very statement its `enqueueMany` runs; `cli` hands it to the store.
 */
export type PgTaskJobStatements = (tasks: readonly Task[], weights?: TenantWeights) => PgStatement[];
