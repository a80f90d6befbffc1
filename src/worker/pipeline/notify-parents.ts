import type { Task } from '../../core/task.js';
import { targetRef } from '../../core/task.js';
import { isFinalState } from '../../core/task-state.js';
import type { Broker } from '../../queue/broker.js';
import type { TaskStore } from '../../store/task-store.js';

/** Parents remembered (id → queue) before the map is cleared: bounds memory, saves reads. */
const maxRemembered = 10_000;

/**
 * The `notifyParents` hook of model workers: for each pipeline task with a step that just
 * finished, one wake-up job `{ taskId: parentId }` on the pipeline's queue (`name@version`),
 * where a pipeline coordinator advances it. Wake-ups get fresh job ids, never the parent's: a
 * wake-up deduplicated against one already being processed could be lost, whereas an extra
 * one costs an idempotent advance (coordinators merge a batch's wake-ups per parent).
 */
export function createParentNotifier(deps: {
  store: TaskStore;
  broker: Broker;
}): (children: readonly Task[]) => Promise<void> {
  const queues = new Map<string, string>();
  return async (children) => {
    const byQueue = new Map<string, { id: string; priority: number; owner: string }[]>();
    for (const parentId of new Set(children.map((c) => c.parent?.id).filter((id) => id !== undefined))) {
      let queue = queues.get(parentId);
      const child = children.find((c) => c.parent?.id === parentId);
      let priority = child?.priority ?? 0;
      // A pipeline's steps belong to the pipeline's owner: the wake-up is that tenant's work.
      let owner = child?.owner ?? '';
      if (queue === undefined) {
        const parent = await deps.store.getTask(parentId);
        if (parent === undefined || isFinalState(parent.state)) continue;
        queue = targetRef(parent.target);
        priority = parent.priority;
        owner = parent.owner;
        if (queues.size >= maxRemembered) queues.clear();
        queues.set(parentId, queue);
      }
      byQueue.set(queue, [...(byQueue.get(queue) ?? []), { id: parentId, priority, owner }]);
    }
    for (const [queue, parents] of byQueue) {
      await deps.broker.enqueueMany(
        queue,
        parents.map((p) => ({ payload: { taskId: p.id }, tenant: p.owner, priority: p.priority })),
      );
    }
  };
}
