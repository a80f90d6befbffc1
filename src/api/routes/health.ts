import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AggregatorRegistry } from 'prom-client';
import type { ApiContext } from '../api-context.js';

/**
 * A backend that has not answered its ping after this long counts as not ready ('timeout'): a
 * readiness probe must get an answer within its own timeout, whereas a client that retries
 * (the PostgreSQL pool's reconnects) could hold the request for tens of seconds.
 */
const pingTimeoutMs = 2_000;

async function check(backend: { ping(): Promise<void> }): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), pingTimeoutMs);
  });
  try {
    return await Promise.race([backend.ping().then(() => 'ok'), timedOut]);
  } catch (err) {
    return (err as { code?: string }).code ?? 'unavailable';
  } finally {
    clearTimeout(timer);
  }
}

/** Liveness, readiness (every backend answers) and Prometheus metrics; all public. */
export function healthRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    const config = { auth: 'public' as const };
    app.get('/healthz', { config, schema: { summary: 'Liveness', tags: ['health'] } }, async () => ({
      status: 'ok',
    }));
    // Open Inference Protocol (v2) clients probe these; same answers, plus the v2 `live`/`ready`.
    app.get(
      '/v2/health/live',
      { config, schema: { summary: 'Liveness (Open Inference Protocol)', tags: ['health'] } },
      async () => ({ live: true }),
    );

    // `v2`: the body also carries the protocol's `ready` flag.
    const readyRoute = (url: string, summary: string, v2: boolean) =>
      app.get(url, { config, schema: { summary, tags: ['health'] } }, async (_request, reply) => {
        const checks = { store: ctx.store, broker: ctx.broker, blobs: ctx.blobs };
        const results: Record<string, string> = Object.fromEntries(
          await Promise.all(
            Object.entries(checks).map(async ([name, backend]) => [name, await check(backend)]),
          ),
        );
        const ready = Object.values(results).every((r) => r === 'ok');
        return reply
          .status(ready ? 200 : 503)
          .send({ status: ready ? 'ready' : 'unavailable', ...(v2 ? { ready } : {}), checks: results });
      });
    readyRoute('/readyz', 'Readiness: store, broker and blobs answer a ping within 2 s', false);
    readyRoute('/v2/health/ready', 'Readiness (Open Inference Protocol): as /readyz', true);

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
