import type { FastifyReply, FastifyRequest } from 'fastify';
import { parseDuration } from '../../core/duration.js';
import type { Task } from '../../core/task.js';
import { isFinalState } from '../../core/task-state.js';
import { InferqError } from '../../errors/index.js';
import type { ApiContext } from '../api-context.js';
import { ownTaskWithoutTimeline } from './route-helpers.js';

/**
 * The `?wait=` of a task read in milliseconds, capped by `api.maxWait`; 0 when absent. A value
 * that is neither milliseconds nor a duration (`5s`, `250ms`) is a 400 naming the parameter.
 */
export function waitMs(ctx: ApiContext, wait: string | undefined): number {
  if (wait === undefined) return 0;
  const ms = parseDuration(wait);
  if (ms === undefined) {
    throw new InferqError(
      'INFERQ_VALIDATION_FAILED',
      `querystring/wait must be milliseconds (wait=5000) or a duration such as 5s or 250ms; got ${JSON.stringify(wait)}`,
      { details: { path: 'querystring/wait', location: 'querystring', value: wait } },
    );
  }
  return Math.min(ms, ctx.config.api.maxWaitMs);
}

/**
 * The caller's task (404 at once when it is not theirs), read again until it is final, `ms`
 * have passed, or the client went away; the last read is returned, final or not.
 *
 * Between reads it sleeps on a TaskWatch taken before the first read: a worker's announcement
 * that the task settled, or a cancel, ends the sleep at once (or the next one, if it came during a
 * read); `pollIntervalMs` bounds it in case an announcement is lost.
 * The reads skip the timeline: a client polling a long task costs one indexed row per read.
 */
export async function waitUntilFinal(
  ctx: ApiContext,
  request: FastifyRequest,
  reply: FastifyReply,
  id: string,
  ms: number,
): Promise<Task> {
  if (ms <= 0) return ownTaskWithoutTimeline(ctx, request, id);
  // Watched before the first read: a settlement announced while it runs is not missed.
  const watch = await ctx.wakeups.watch([id]);
  const gone = new AbortController();
  const abort = (): void => gone.abort();
  try {
    let task = await ownTaskWithoutTimeline(ctx, request, id);
    if (isFinalState(task.state)) return task;
    const deadline = ctx.clock() + ms;
    // The response's 'close' comes when the client disconnects (or once the answer is sent).
    reply.raw.once('close', abort);
    // A client that left during the first read: its 'close' has been emitted already.
    if (reply.raw.destroyed) abort();
    for (;;) {
      const left = deadline - ctx.clock();
      if (left <= 0) return task;
      await watch.next(Math.min(left, ctx.pollIntervalMs), gone.signal);
      if (gone.signal.aborted) return task;
      task = await ownTaskWithoutTimeline(ctx, request, id);
      if (isFinalState(task.state)) return task;
    }
  } finally {
    watch.close();
    reply.raw.off('close', abort);
  }
}
