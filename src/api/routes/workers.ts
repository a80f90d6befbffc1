import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiContext } from '../api-context.js';
import { WorkerList } from '../schemas/responses.js';
import { workerStaleAfterMs } from '../serving-workers.js';

/** `GET /v1/workers` (admin): every worker of the registry with its heartbeat age. */
export function workerRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/workers',
      {
        config: { auth: 'admin' },
        schema: {
          summary: 'Workers: host, models, in-flight jobs, heartbeat age, version; stale ones marked',
          tags: ['workers'],
          response: { 200: WorkerList },
        },
      },
      async () => {
        const now = ctx.clock();
        const workers = ctx.workers === undefined ? [] : await ctx.workers.list();
        return {
          items: workers.map((w) => ({
            ...w,
            heartbeatAgeMs: Math.max(0, now - w.lastSeenAt),
            stale: now - w.lastSeenAt > workerStaleAfterMs,
          })),
          staleAfterMs: workerStaleAfterMs,
          registry: ctx.workers !== undefined,
        };
      },
    );
  };
}
