import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { InferqError } from '../../errors/index.js';
import type { ApiContext } from '../api-context.js';
import { Query } from '../schemas/common.js';
import { StatsFeed } from '../stats-feed.js';
import {
  breakdownView,
  defaultBucketSeconds,
  historyView,
  overviewView,
  type StatsScope,
  statsView,
} from '../stats-views.js';
import { heartbeatMs, openEventStream, principalOf } from './route-helpers.js';

const All = Type.Optional(Type.Boolean({ default: false, description: 'every tenant (admin only)' }));
const WindowSeconds = (fallback: number, maximum: number) =>
  Type.Optional(Type.Integer({ minimum: 1, maximum, default: fallback }));
const BucketSeconds = Type.Optional(
  Type.Integer({ minimum: 1, maximum: 86_400, description: 'default: the window / 60, in whole seconds' }),
);

/** The caller's tenant, or every tenant when an admin asks for `all`. */
function scopeOf(request: FastifyRequest, all: boolean | undefined): StatsScope {
  const principal = principalOf(request);
  if (all !== true) return { owner: principal.tenant, label: principal.tenant };
  if (!principal.admin) {
    throw new InferqError('INFERQ_FORBIDDEN', 'stats of all tenants need an admin API key', {
      details: { needs: 'admin' },
    });
  }
  return { owner: undefined, label: 'all' };
}

/**
 * `/v1/stats…`: the caller's counts and latencies (`all=true`, admin: every tenant), their
 * history in time buckets, the per-model latency breakdown, and all of it live over SSE.
 */
export function statsRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    const feed = new StatsFeed(ctx.logger);
    // Before the server waits for open connections to finish: live streams never finish alone.
    app.addHook('preClose', async () => feed.close());

    app.get(
      '/stats',
      {
        schema: {
          summary: 'Counts by state and model, queue depths, throughput and latency percentiles',
          tags: ['stats'],
          querystring: Query({ windowSeconds: WindowSeconds(300, 86_400), all: All }),
        },
      },
      async (request) =>
        statsView(ctx, scopeOf(request, request.query.all), request.query.windowSeconds ?? 300),
    );

    app.get(
      '/stats/overview',
      {
        schema: {
          summary:
            'Backlog now and outcomes over the window, per model and in total, with queue depths (cheap at any store size)',
          tags: ['stats'],
          querystring: Query({ windowSeconds: WindowSeconds(300, 86_400), all: All }),
        },
      },
      async (request) =>
        overviewView(ctx, scopeOf(request, request.query.all), request.query.windowSeconds ?? 300),
    );

    app.get(
      '/stats/history',
      {
        schema: {
          summary:
            'Throughput, error rate, latency percentiles and achieved batch sizes per time bucket, from the task store',
          tags: ['stats'],
          querystring: Query({
            windowSeconds: WindowSeconds(3_600, 7 * 86_400),
            bucketSeconds: BucketSeconds,
            all: All,
          }),
        },
      },
      async (request) => {
        const windowSeconds = request.query.windowSeconds ?? 3_600;
        return historyView(
          ctx,
          scopeOf(request, request.query.all),
          windowSeconds,
          request.query.bucketSeconds ?? defaultBucketSeconds(windowSeconds),
        );
      },
    );

    app.get(
      '/stats/models',
      {
        schema: {
          summary: 'Per model: queue wait, batch wait, compute and total latency (p50, p95), batch size',
          tags: ['stats'],
          querystring: Query({ windowSeconds: WindowSeconds(900, 86_400), all: All }),
        },
      },
      async (request) =>
        breakdownView(ctx, scopeOf(request, request.query.all), request.query.windowSeconds ?? 900),
    );

    app.get(
      '/stats/events',
      {
        schema: {
          summary:
            'Server-Sent Events: a `stats` event with the overview (as GET /v1/stats/overview) and the latest history buckets, whenever it changes',
          description:
            'The first event comes at once; then one every intervalMs at most, only when something changed. The stream stays open until the client closes it.',
          tags: ['stats'],
          querystring: Query({
            windowSeconds: WindowSeconds(300, 86_400),
            bucketSeconds: Type.Optional(
              Type.Integer({ minimum: 1, maximum: 86_400, default: 60, description: 'history bucket width' }),
            ),
            intervalMs: Type.Optional(Type.Integer({ minimum: 250, maximum: 60_000, default: 2_000 })),
            all: All,
          }),
          produces: ['text/event-stream'],
        },
      },
      async (request, reply) => {
        const scope = scopeOf(request, request.query.all);
        const windowSeconds = request.query.windowSeconds ?? 300;
        const bucketSeconds = request.query.bucketSeconds ?? 60;
        const intervalMs = request.query.intervalMs ?? 2_000;
        const key = JSON.stringify([scope.label, windowSeconds, bucketSeconds, intervalMs]);
        // The current and the previous bucket: enough for a chart that loaded the history first.
        const load = async () => ({
          overview: await overviewView(ctx, scope, windowSeconds),
          history: await historyView(ctx, scope, 2 * bucketSeconds, bucketSeconds),
        });

        const res = openEventStream(reply);
        res.write(': stats\n\n');
        const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), heartbeatMs);
        let leave = (): void => {};
        const stop = (): void => {
          clearInterval(heartbeat);
          leave();
          if (!res.writableEnded) res.end();
        };
        leave = feed.subscribe(key, load, intervalMs, {
          send: (json) => res.write(`event: stats\ndata: ${json}\n\n`),
          fail: () =>
            res.write(
              `event: error\ndata: ${JSON.stringify(new InferqError('INFERQ_INTERNAL', 'stats snapshot failed').toJSON())}\n\n`,
            ),
          // The server is closing: end the response, then the connection, so that closing does
          // not wait on a client's keep-alive (an idle socket is only closed once, up front).
          end: () => {
            res.once('finish', () => res.socket?.destroy());
            stop();
          },
        });
        // The response's 'close': the client went away (or the stream ended).
        reply.raw.on('close', stop);
      },
    );
  };
}
