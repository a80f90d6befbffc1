import type { Task, TaskWithTimeline } from '../core/task.js';
import { targetRef } from '../core/task.js';
import type { WebhookDelivery } from '../store/task-store.js';

/** A task as clients see it: no owner (it is the caller), no worker or lease internals. */
export function taskView(
  task: Task | TaskWithTimeline,
  extra: { withResult?: boolean; webhook?: WebhookDelivery | undefined } = {},
): Record<string, unknown> {
  const view: Record<string, unknown> = {
    id: task.id,
    requestId: task.requestId,
    target: targetRef(task.target),
    targetKind: task.target.kind,
    state: task.state,
    priority: task.priority,
    attempts: task.attempts,
    maxAttempts: task.maxAttempts,
    input: task.input,
    params: task.params,
    cached: task.cached,
    error: task.error,
    callbackUrl: task.callbackUrl,
    createdAt: task.createdAt,
    updatedAt: task.updatedAt,
    finishedAt: task.finishedAt,
  };
  if ('timeline' in task) view.timeline = task.timeline;
  if (extra.withResult === true && task.state === 'succeeded') view.result = task.result;
  if (extra.webhook !== undefined) view.webhook = extra.webhook;
  return view;
}
