import type { FastifyRequest } from 'fastify';
import type { TaskWithTimeline } from '../../core/task.js';
import { InferqError } from '../../errors/index.js';
import type { ApiContext } from '../api-context.js';
import type { Principal } from '../auth/principal.js';

/** The caller of an authenticated route (the onRequest hook has set it). */
export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === null) {
    throw new InferqError('INFERQ_AUTH_REQUIRED', 'send Authorization: Bearer <API key or token>');
  }
  return request.principal;
}

/**
 * The caller's task, or 404 whether it does not exist or belongs to another tenant: the two
 * answers must be indistinguishable, or task ids would leak across tenants.
 */
export async function ownTask(
  ctx: ApiContext,
  request: FastifyRequest,
  id: string,
): Promise<TaskWithTimeline> {
  const task = await ctx.store.getTask(id);
  if (task === undefined || task.owner !== principalOf(request).tenant) {
    throw new InferqError('INFERQ_TASK_NOT_FOUND', `no task ${id}`, { details: { id } });
  }
  return task;
}
