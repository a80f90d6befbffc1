import { taskEventsChannel, tasksSettledMessage } from '../core/task-events.js';
import type { Broker } from './broker.js';

/**
 * Tells API hosts which tasks just settled, so their waiting streams wake now (see
 * core/task-events.ts). Best effort: a lost message only delays a waiter to its next poll.
 */
export async function announceSettled(broker: Broker, taskIds: readonly string[]): Promise<void> {
  if (taskIds.length === 0) return;
  await broker.publish(taskEventsChannel, tasksSettledMessage(taskIds)).catch(() => undefined);
}
