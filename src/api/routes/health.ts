import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AggregatorRegistry } from 'prom-client';
import type { ApiContext } from '../api-context.js';

/** Liveness, readiness (every backend answers) and Prometheus metrics; all public. */
export function healthRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    const config = { auth: 'public' as const };
    app.get('/healthz', { config, schema: { summary: 'Liveness', tags: ['health'] } }, async () => ({
      status: 'ok',
    }));

    app.get(
      '/readyz',
      { config, schema: { summary: 'Readiness: store, broker and blobs reachable', tags: ['health'] } },
      async (_request, reply) => {
        const checks = { store: ctx.store, broker: ctx.broker, blobs: ctx.blobs };
        const results: Record<string, string> = {};
        for (const [name, backend] of Object.entries(checks)) {
          try {
            await backend.ping();
            results[name] = 'ok';
          } catch (err) {
            results[name] = (err as { code?: string }).code ?? 'unavailable';
          }
        }
        const ready = Object.values(results).every((r) => r === 'ok');
        return reply
          .status(ready ? 200 : 503)
          .send({ status: ready ? 'ready' : 'unavailable', checks: results });
      },
    );

    app.get(
      '/metrics',
      { config, schema: { summary: 'Prometheus metrics', tags: ['health'] } },
      async (_request, reply) => {
        const own = ctx.metrics.registry;
        const registry = ctx.moreMetrics
          ? AggregatorRegistry.aggregate([await own.getMetricsAsJSON(), ...(await ctx.moreMetrics())])
          : own;
        return reply.header('content-type', own.contentType).send(await registry.metrics());
      },
    );
  };
}
