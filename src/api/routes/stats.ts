import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { InferqError } from '../../errors/index.js';
import type { ApiContext } from '../api-context.js';
import { principalOf } from './route-helpers.js';

/** `GET /v1/stats`: the caller's counts and latencies; `all=true` (admin) for every tenant. */
export function statsRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/stats',
      {
        schema: {
          summary: 'Counts by state and model, queue depths, throughput and latency percentiles',
          tags: ['stats'],
          querystring: Type.Object({
            windowSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400, default: 300 })),
            all: Type.Optional(Type.Boolean({ default: false, description: 'every tenant (admin only)' })),
          }),
        },
      },
      async (request) => {
        const principal = principalOf(request);
        if (request.query.all === true && !principal.admin) {
          throw new InferqError('INFERQ_FORBIDDEN', 'stats of all tenants need an admin API key', {
            details: { needs: 'admin' },
          });
        }
        const windowSeconds = request.query.windowSeconds ?? 300;
        const now = ctx.clock();
        const stats = await ctx.store.taskStats({
          ...(request.query.all === true ? {} : { owner: principal.tenant }),
          since: now - windowSeconds * 1_000,
        });
        const queues: Record<string, unknown> = {};
        for (const entry of ctx.catalog.list()) {
          const ref = `${entry.name}@${entry.version}`;
          queues[ref] = await ctx.broker.depth(ref).catch(() => null);
        }
        return {
          scope: request.query.all === true ? 'all' : principal.tenant,
          windowSeconds,
          byTarget: stats.byTarget,
          recent: stats.recent.map((r) => ({ ...r, perSecond: r.finished / windowSeconds })),
          queues,
        };
      },
    );
  };
}
