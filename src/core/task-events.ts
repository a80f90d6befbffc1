import type { BroadcastMessage } from './job.js';

/**
 * The broadcast channel on which workers say which tasks they just started (claimed, about to
 * run) and which they just moved to an outcome (succeeded, failed, or back to queued for a
 * retry). API hosts listen to wake the event streams and synchronous predictions waiting on those
 * tasks at once, instead of on their next poll. A hint only: the store stays the truth, and
 * waiters still poll in case a message is lost. A host that does not know a message type ignores
 * it, so hosts of different versions can share a channel.
 */
export const taskEventsChannel = 'inferq.task-events';

export function tasksSettledMessage(taskIds: readonly string[]): BroadcastMessage {
  return { type: 'tasks-settled', taskIds: [...taskIds] };
}

export function tasksStartedMessage(taskIds: readonly string[]): BroadcastMessage {
  return { type: 'tasks-started', taskIds: [...taskIds] };
}

/** The task ids of a `tasks-settled` message; none for any other message. */
export function settledTaskIds(message: BroadcastMessage): string[] {
  return taskIdsOf(message, 'tasks-settled');
}

/** The task ids of a `tasks-started` message; none for any other message. */
export function startedTaskIds(message: BroadcastMessage): string[] {
  return taskIdsOf(message, 'tasks-started');
}

function taskIdsOf(message: BroadcastMessage, type: string): string[] {
  if (message.type !== type || !Array.isArray(message.taskIds)) return [];
  return message.taskIds.filter((id): id is string => typeof id === 'string');
}
