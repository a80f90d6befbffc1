import type { BroadcastMessage } from './job.js';

/**
 * The broadcast channel on which workers say which tasks they just moved to an outcome
 * (succeeded, failed, or back to queued for a retry). API hosts listen to wake the event
 * streams and synchronous predictions waiting on those tasks at once, instead of on their next
 * poll. A hint only: the store stays the truth, and waiters still poll in case a message is lost.
 */
export const taskEventsChannel = 'inferq.task-events';

export function tasksSettledMessage(taskIds: readonly string[]): BroadcastMessage {
  return { type: 'tasks-settled', taskIds: [...taskIds] };
}

/** The task ids of a `tasks-settled` message; none for any other message. */
export function settledTaskIds(message: BroadcastMessage): string[] {
  if (message.type !== 'tasks-settled' || !Array.isArray(message.taskIds)) return [];
  return message.taskIds.filter((id): id is string => typeof id === 'string');
}
