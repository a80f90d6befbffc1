import type { Task, TaskWithTimeline } from '../core/task.js';
import { targetRef } from '../core/task.js';
import type { WebhookDelivery } from '../store/webhook-deliveries.js';

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
  if (task.parent !== undefined) view.parent = task.parent;
  if ('timeline' in task) view.timeline = task.timeline;
  if (extra.withResult === true && task.state === 'succeeded') view.result = task.result;
  if (extra.webhook !== undefined) view.webhook = extra.webhook;
  return view;
}

/**
 * One step of a pipeline task as `GET /v1/tasks/{id}` lists it under `steps`: the step, the
 * item of a map step, its own task (readable at `/v1/tasks/{id}`, input included: OCR crops
 * are viewable there) and its result when done.
 */
export function stepView(child: Task): Record<string, unknown> {
  return {
    step: child.parent?.stepId,
    item: child.parent?.itemIndex,
    id: child.id,
    target: targetRef(child.target),
    state: child.state,
    attempts: child.attempts,
    error: child.error,
    ...(child.state === 'succeeded' ? { result: child.result } : {}),
    createdAt: child.createdAt,
    finishedAt: child.finishedAt,
  };
}
