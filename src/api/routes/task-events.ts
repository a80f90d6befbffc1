import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import type { Task } from '../../core/task.js';
import { isFinalState } from '../../core/task-state.js';
import { InferqError } from '../../errors/index.js';
import type { ApiContext } from '../api-context.js';
import { IdParams } from '../schemas/common.js';
import { taskView } from '../task-view.js';
import type { TaskWatch } from '../task-wakeups.js';
import { heartbeatMs, openEventStream, ownTask, principalOf } from './route-helpers.js';

/**
 * Streams `state` events for a set of tasks until every one is final, then `end`. It reads the
 * store — the truth, whichever worker or host changed a task — whenever a worker announces that
 * it started or settled one of the tasks (TaskWakeups), and at least every `pollIntervalMs`.
 */
async function streamStates(
  ctx: ApiContext,
  reply: FastifyReply,
  taskIds: readonly string[],
  load: () => Promise<Task[]>,
): Promise<void> {
  const res = openEventStream(reply);
  let closed = false;
  const gone = new AbortController();
  // The response's 'close' (the client went away), not the request's: that one also comes once
  // a request's body has been read.
  reply.raw.on('close', () => {
    closed = true;
    gone.abort();
  });
  const seen = new Map<string, string>();
  let lastWrite = ctx.clock();
  let watch: TaskWatch | undefined;
  try {
    // Watched before the first read: a start or settlement announced while it runs is not missed.
    watch = await ctx.wakeups.watch(taskIds, { starts: true });
    while (!closed) {
      const tasks = await load();
      for (const task of tasks) {
        const signature = `${task.state}:${task.attempts}:${task.updatedAt}`;
        if (seen.get(task.id) === signature) continue;
        seen.set(task.id, signature);
        res.write(
          `event: state\nid: ${task.id}:${task.updatedAt}\ndata: ${JSON.stringify(taskView(task))}\n\n`,
        );
        lastWrite = ctx.clock();
      }
      if (tasks.every((t) => isFinalState(t.state))) {
        res.write(`event: end\ndata: ${JSON.stringify({ tasks: tasks.length })}\n\n`);
        break;
      }
      if (ctx.clock() - lastWrite >= heartbeatMs) {
        res.write(': keep-alive\n\n');
        lastWrite = ctx.clock();
      }
      await watch.next(ctx.pollIntervalMs, gone.signal);
    }
  } catch (err) {
    ctx.logger.warn({ err }, 'event stream failed');
    res.write(
      `event: error\ndata: ${JSON.stringify(new InferqError('INFERQ_INTERNAL', 'stream failed').toJSON())}\n\n`,
    );
  } finally {
    watch?.close();
    res.end();
  }
}

/** Tasks read per store call by the request event stream (listTasks' page limit). */
const pageSize = 1_000;

/**
 * Reads the open tasks of `known` again, in place; a task no longer found (purged) is dropped,
 * as a read of the whole request would drop it.
 */
async function refreshOpen(ctx: ApiContext, owner: string, known: Map<string, Task>): Promise<void> {
  const open = [...known.values()].filter((task) => !isFinalState(task.state)).map((task) => task.id);
  for (let start = 0; start < open.length; start += pageSize) {
    const ids = open.slice(start, start + pageSize);
    const page = await ctx.store.listTasks({ owner, ids }, { limit: pageSize });
    const found = new Map(page.items.map((task) => [task.id, task]));
    for (const id of ids) {
      const task = found.get(id);
      if (task === undefined) known.delete(id);
      else known.set(id, task);
    }
  }
}

/** `/v1/tasks/{id}/events` and `/v1/requests/{id}/events`: Server-Sent Events of state changes. */
export function taskEventRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/tasks/:id/events',
      {
        schema: {
          summary: 'Server-Sent Events of one task, ending when it is final',
          tags: ['tasks'],
          params: IdParams,
          produces: ['text/event-stream'],
        },
      },
      async (request, reply) => {
        const first = await ownTask(ctx, request, request.params.id);
        let current: Task = first;
        await streamStates(ctx, reply, [first.id], async () => {
          current = (await ctx.store.getTask(first.id)) ?? current;
          return [current];
        });
      },
    );

    app.get(
      '/requests/:id/events',
      {
        schema: {
          summary: 'Server-Sent Events of every task of one request, ending when all are final',
          tags: ['tasks'],
          params: IdParams,
          produces: ['text/event-stream'],
        },
      },
      async (request, reply) => {
        const owner = principalOf(request).tenant;
        const tasks: Task[] = [];
        let cursor: string | undefined;
        do {
          const page = await ctx.store.listTasks(
            { owner, requestId: request.params.id },
            { limit: pageSize, ...(cursor ? { cursor } : {}) },
          );
          tasks.push(...page.items);
          cursor = page.nextCursor;
        } while (cursor !== undefined);
        if (tasks.length === 0) {
          throw new InferqError('INFERQ_REQUEST_NOT_FOUND', `no request ${request.params.id}`, {
            details: { id: request.params.id },
          });
        }
        // A request's tasks are all created with it, and a final task does not change again: after
        // this first read only the open ones are read (by id), not the whole request each time.
        const known = new Map(tasks.reverse().map((task) => [task.id, task]));
        await streamStates(ctx, reply, [...known.keys()], async () => {
          await refreshOpen(ctx, owner, known);
          return [...known.values()];
        });
      },
    );
  };
}
