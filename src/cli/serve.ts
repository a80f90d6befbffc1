import { pino } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { buildApp } from '../api/build-app.js';
import { WebhookDispatcher } from '../api/webhooks/webhook-dispatcher.js';
import type { Config } from '../config/schema.js';
import { dashboardPlugin } from '../dashboard/dashboard-plugin.js';
import { startOutboxSweeper } from '../worker/outbox-sweeper.js';
import { startRetentionCleaner } from '../worker/retention-cleaner.js';
import { createFirstAdminKey, loadOrCreateJwtSecret, openAuthStore } from './auth-bootstrap.js';
import { buildCatalog } from './build-catalog.js';
import { openBackends } from './open-backends.js';
import { modelsDir, openWorkerRegistry } from './start-workers.js';
import { startWorkerThreads } from './worker-threads.js';

/** `inferq serve`: the embedded deployment in one process. Resolves after a graceful shutdown. */
export async function serve(config: Config, options: { workers?: boolean } = {}): Promise<void> {
  const logger = pino({ level: config.log.level });
  const backends = await openBackends(config);
  const auth = await openAuthStore(config);
  const cleaner = startRetentionCleaner({
    store: backends.store,
    blobs: backends.blobs,
    ttlMs: config.retention.ttlMs,
    graceMs: config.retention.blobGraceMs,
    intervalMs: config.retention.intervalMs,
    logger,
  });
  // Tasks whose enqueue failed (broker down) get their job after a minute; see outbox-sweeper.ts.
  const outbox = startOutboxSweeper({
    store: backends.store,
    broker: backends.broker,
    graceMs: 60_000,
    intervalMs: 30_000,
    logger,
  });
  const metricsRegistry = new Registry();
  collectDefaultMetrics({ register: metricsRegistry });
  // The workers run in threads of their own (`workers.count`, default 1), each with its own
  // connections: the API's event loop never leases, batches or runs a JS model.
  const workers =
    options.workers !== false && config.workers.count > 0
      ? await startWorkerThreads({ config, count: config.workers.count, logger })
      : undefined;
  const workerRegistry = await openWorkerRegistry(config);
  const app = await buildApp({
    config,
    ...backends,
    auth,
    catalog: await buildCatalog(modelsDir(config), logger, workers?.unavailable),
    jwtSecret: loadOrCreateJwtSecret(config),
    logger,
    metricsRegistry,
    ...(workers ? { moreMetrics: () => workers.metrics() } : {}),
    ...(workerRegistry ? { workers: workerRegistry } : {}),
    plugins: [dashboardPlugin()],
  });
  const webhooks = new WebhookDispatcher({
    store: backends.store,
    auth,
    logger,
    allowPrivate: config.api.allowPrivateCallbacks,
    maxAttempts: config.api.webhookMaxAttempts,
  });
  webhooks.start();
  const address = await app.listen({ host: config.server.host, port: config.server.port });
  const firstKey = await createFirstAdminKey(auth);

  console.log(`inferq serving (embedded)
  API         ${address}/v1
  API docs    ${address}/docs
  dashboard   ${address}/
  task store  ${config.store.url}
  queue       ${config.broker.url}
  blobs       ${config.blobs.url}
  models      ${workers ? workers.models.join(', ') || '(none loaded)' : '(no workers in this process)'}
  retention   tasks and inputs kept ${Math.round(config.retention.ttlMs / 3_600_000)} h`);
  if (firstKey !== undefined) {
    console.log(`
First admin API key (tenant "default"). It is shown only this once: store it now.
  ${firstKey}
Use it as:  curl -H "Authorization: Bearer ${firstKey}" ${address}/v1/models`);
  }
  console.log('Press Ctrl+C to stop.');

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await app.close();
  await workers?.stop();
  await webhooks.stop();
  await cleaner.stop();
  await outbox.stop();
  await auth.close();
  await workerRegistry?.close();
  await backends.close();
}
