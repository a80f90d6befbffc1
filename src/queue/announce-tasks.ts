import { taskEventsChannel, tasksSettledMessage, tasksStartedMessage } from '../core/task-events.js';
import type { Broker } from './broker.js';

/**
 * Tells API hosts which tasks just settled, so their waiting streams and predictions wake now
 * (see core/task-events.ts). Best effort: a lost message only delays a waiter to its next poll.
 */
export async function announceSettled(broker: Broker, taskIds: readonly string[]): Promise<void> {
  if (taskIds.length === 0) return;
  await broker.publish(taskEventsChannel, tasksSettledMessage(taskIds)).catch(() => undefined);
}

/**
 * Tells API hosts which tasks a worker just started, so that event streams show `running` when it
 * happens rather than on their next poll (or never, for a task that ends before that poll).
 * Best effort, as announceSettled.
 */
export async function announceStarted(broker: Broker, taskIds: readonly string[]): Promise<void> {
  if (taskIds.length === 0) return;
  await broker.publish(taskEventsChannel, tasksStartedMessage(taskIds)).catch(() => undefined);
}
