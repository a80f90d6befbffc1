import type { BroadcastMessage } from '../core/job.js';
import { taskEventsChannel, tasksSettledMessage, tasksStartedMessage } from '../core/task-events.js';
import type { Broker } from './broker.js';

/** Best effort: a lost message only delays a waiter to its next poll. */
async function announce(
  broker: Broker,
  taskIds: readonly string[],
  message: (ids: readonly string[]) => BroadcastMessage,
): Promise<void> {
  if (taskIds.length === 0) return;
  await broker.publish(taskEventsChannel, message(taskIds)).catch(() => undefined);
}

/**
 * Tells API hosts which tasks just settled, so their waiting streams and predictions wake now
 * (see core/task-events.ts).
 */
export function announceSettled(broker: Broker, taskIds: readonly string[]): Promise<void> {
  return announce(broker, taskIds, tasksSettledMessage);
}

/**
 * Tells API hosts which tasks a worker just started, so that event streams show `running` when it
 * happens rather than on their next poll (or never, for a task that ends before that poll).
 */
export function announceStarted(broker: Broker, taskIds: readonly string[]): Promise<void> {
  return announce(broker, taskIds, tasksStartedMessage);
}
