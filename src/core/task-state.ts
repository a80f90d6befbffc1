import { InferqError } from '../errors/index.js';

export const taskStates = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type TaskState = (typeof taskStates)[number];

export const finalStates: readonly TaskState[] = ['succeeded', 'failed', 'cancelled'];

/**
 * What can happen to a task. `retry` (a retryable failure with attempts left) and
 * `lease-expired` (the worker vanished) both put a running task back in the queue.
 */
export const taskEvents = ['lease', 'succeed', 'fail', 'retry', 'lease-expired', 'cancel'] as const;
export type TaskEvent = (typeof taskEvents)[number];

const transitions: Record<TaskEvent, { from: readonly TaskState[]; to: TaskState }> = {
  lease: { from: ['queued'], to: 'running' },
  succeed: { from: ['running'], to: 'succeeded' },
  fail: { from: ['running'], to: 'failed' },
  retry: { from: ['running'], to: 'queued' },
  'lease-expired': { from: ['running'], to: 'queued' },
  cancel: { from: ['queued', 'running'], to: 'cancelled' },
};

export function isFinalState(state: TaskState): boolean {
  return finalStates.includes(state);
}

/** The states from which `event` is allowed: stores use this in their conditional updates. */
export function statesAllowing(event: TaskEvent): readonly TaskState[] {
  return transitions[event].from;
}

/** The state after `event`, or undefined when `event` is not allowed from `state`. */
export function nextState(state: TaskState, event: TaskEvent): TaskState | undefined {
  const rule = transitions[event];
  return rule.from.includes(state) ? rule.to : undefined;
}

/** Like {@link nextState} but throws `INFERQ_TASK_INVALID_TRANSITION` on a forbidden move. */
export function applyEvent(state: TaskState, event: TaskEvent): TaskState {
  const to = nextState(state, event);
  if (to === undefined) {
    throw new InferqError(
      'INFERQ_TASK_INVALID_TRANSITION',
      `cannot ${event} a task that is ${state}; allowed from: ${transitions[event].from.join(', ')}`,
      { details: { state, event, allowedFrom: transitions[event].from } },
    );
  }
  return to;
}

export function isTaskState(value: unknown): value is TaskState {
  return typeof value === 'string' && (taskStates as readonly string[]).includes(value);
}
