import { statesAllowing, type TaskEvent, type TaskState } from '../../core/task-state.js';

/*
 * The SQL terms every lease statement shares (claim, settle, renew, cancel, release, retention):
 * the states an event may start from, as the state machine (core/task-state.ts) says, and the
 * columns that end a lease (the lease lives on the row: task-lease.ts).
 */

/** `state IN ('queued', …)` for the states an event may start from (literals from the state machine). */
export function stateIn(event: TaskEvent | readonly TaskState[]): string {
  const states = typeof event === 'string' ? statesAllowing(event) : event;
  return `state IN (${states.map((s) => `'${s}'`).join(', ')})`;
}

/** The SET terms that end a lease (settle, fail, retry, cancel, release). */
export const endLease = 'worker_id = NULL, lease_token = NULL, lease_expires_at = NULL';
