import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Task, TaskWithTimeline } from '../../core/task.js';
import { type ErrorCode, errorCodes, errorJson, InferqError } from '../../errors/index.js';
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
  return owned(request, id, await ctx.store.getTask(id));
}

/** {@link ownTask} without the timeline: one store read, for the result and polling paths. */
export async function ownTaskWithoutTimeline(
  ctx: ApiContext,
  request: FastifyRequest,
  id: string,
): Promise<Task> {
  return owned(request, id, await ctx.store.getTaskWithoutTimeline(id));
}

function owned<T extends Task>(request: FastifyRequest, id: string, task: T | undefined): T {
  if (task === undefined || task.owner !== principalOf(request).tenant) {
    throw new InferqError('INFERQ_TASK_NOT_FOUND', `no task ${id}`, { details: { id } });
  }
  return task;
}

/**
 * Answers with an error body without throwing, for answers that are routine rather than
 * failures (a result polled before it is ready): same status and body as the error handler
 * gives, but no InferqError, so no stack trace is captured per poll.
 */
export function sendError(
  reply: FastifyReply,
  code: ErrorCode,
  message: string,
  details?: Record<string, unknown>,
): FastifyReply {
  return reply.status(errorCodes[code].status).send(errorJson(code, message, details));
}

/** A comment line this often keeps an idle event stream open through proxies. */
export const heartbeatMs = 15_000;

/**
 * Takes the response over for a Server-Sent Events stream: status 200 and the headers that keep
 * proxies from buffering or transforming it. The caller writes events and ends it.
 */
export function openEventStream(reply: FastifyReply): ServerResponse {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  return res;
}
