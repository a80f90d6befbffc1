import { pino } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { buildApp } from '../api/build-app.js';
import { firstServing, startRemoteFastPath } from '../api/remote-fast-path.js';
import { WebhookDispatcher } from '../api/webhooks/webhook-dispatcher.js';
import type { Config } from '../config/schema.js';
import type { ModelCatalog } from '../core/model-catalog.js';
import { redactUrl } from '../core/redact-url.js';
import { dashboardPlugin } from '../dashboard/dashboard-plugin.js';
import { InferqError } from '../errors/index.js';
import { FastLanes } from '../worker/fast-lanes.js';
import { startOutboxSweeper } from '../worker/housekeeping/outbox-sweeper.js';
import { startRetentionCleaner } from '../worker/housekeeping/retention-cleaner.js';
import { createFirstAdminKey, loadOrCreateJwtSecret, openAuthStore } from './auth-bootstrap.js';
import { buildCatalog } from './build-catalog.js';
import { deploymentKind } from './describe-backends.js';
import { openBackends } from './open-backends.js';
import { packageVersion } from './package-version.js';
import { modelsDir, openWorkerRegistry } from './start-workers.js';
import { startWorkerThreads, type WorkerThreads } from './worker-threads.js';

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
  // Not where the queue is in the task database (embedded, PostgreSQL alone): there each task is
  // created with its job in one transaction.
  const outbox = backends.jobsWrittenByStore
    ? undefined
    : startOutboxSweeper({
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
  const catalog = await buildCatalog(modelsDir(config), logger, workers?.unavailable);
  // The fast path (OIP infer, predict with durable: false): this process's worker threads, then
  // workers elsewhere that advertise a ZeroMQ endpoint (`inferq worker --realtime`).
  const localFast = workers ? startFastPath(config, catalog, workers, metricsRegistry) : undefined;
  const remoteFast = workerRegistry ? startRemoteFastPath({ registry: workerRegistry, logger }) : undefined;
  const fastPath = firstServing(localFast, remoteFast?.fastPath);
  const app = await buildApp({
    config,
    ...backends,
    auth,
    catalog,
    serverVersion: packageVersion,
    ...(fastPath ? { fastPath } : {}),
    jwtSecret: await loadOrCreateJwtSecret(config, auth),
    logger,
    metricsRegistry,
    ...(workers ? { moreMetrics: () => workers.metrics() } : {}),
    ...(workerRegistry ? { workers: workerRegistry } : {}),
    plugins: [dashboardPlugin()],
  });
  const webhooks = new WebhookDispatcher({
    store: backends.webhooks,
    auth,
    logger,
    allowPrivate: config.api.allowPrivateCallbacks,
    maxAttempts: config.api.webhookMaxAttempts,
  });
  webhooks.start();
  const stopAll = async (): Promise<void> => {
    // Fastify closes the keep-alive connections idle when it starts closing; one still answering
    // (a fast call, a durable predict) turns idle after and would hold the close for its
    // keep-alive timeout (72 s): close such connections as they turn idle.
    const closeIdle = setInterval(() => app.server.closeIdleConnections(), 100);
    try {
      await app.close();
    } finally {
      clearInterval(closeIdle);
    }
    await localFast?.stop();
    await remoteFast?.stop();
    await workers?.stop();
    await webhooks.stop();
    await cleaner.stop();
    await outbox?.stop();
    await auth.close();
    await workerRegistry?.close();
    await backends.close();
  };
  let address: string;
  try {
    address = await app.listen({ host: config.server.host, port: config.server.port });
  } catch (err) {
    // Nothing serves yet: stop what did start (the worker threads would keep the process alive
    // and stay registered as running), then say what to change.
    await stopAll();
    throw listenError(err, config.server.host, config.server.port);
  }
  const firstKey = await createFirstAdminKey(auth);

  console.log(`inferq serving (${deploymentKind(config.store.url, config.broker.url)})
  API         ${address}/v1
  API docs    ${address}/docs
  dashboard   ${address}/
  task store  ${redactUrl(config.store.url)}
  queue       ${redactUrl(config.broker.url)}
  blobs       ${redactUrl(config.blobs.url)}
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
  await stopAll();
}

/** Fast lanes for every model the worker threads loaded, batched as model.yaml says. */
function startFastPath(
  config: Config,
  catalog: ModelCatalog,
  workers: WorkerThreads,
  registry: Registry,
): FastLanes {
  const loaded = new Set(workers.models);
  return new FastLanes({
    models: catalog.list().flatMap((entry) => {
      const ref = `${entry.name}@${entry.version}`;
      return entry.kind === 'model' && loaded.has(ref) ? [{ ref, spec: entry.spec }] : [];
    }),
    run: (ref, inputs, params) => workers.runFast(ref, inputs, params),
    copies: config.workers.count,
    queueLimit: config.workers.fastQueueLimit,
    registry,
  });
}

/** The error of a failed listen, in words a user can act on; other errors as they are. */
function listenError(err: unknown, host: string, port: number): unknown {
  const code = (err as { code?: unknown }).code;
  const where = `${host}:${port}`;
  const hint = 'choose another with --port (or server.port in the config)';
  if (code === 'EADDRINUSE') {
    return new InferqError(
      'INFERQ_CONFIG_INVALID',
      `cannot listen on ${where}: the port is in use (another inferq serve?). Stop that server, or ${hint}`,
      { cause: err, details: { host, port } },
    );
  }
  if (code === 'EACCES') {
    return new InferqError(
      'INFERQ_CONFIG_INVALID',
      `cannot listen on ${where}: not allowed (ports below 1024 need privileges); ${hint}`,
      { cause: err, details: { host, port } },
    );
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
    return new InferqError(
      'INFERQ_CONFIG_INVALID',
      `cannot listen on ${where}: this machine has no such address; choose another with --host (or server.host in the config)`,
      { cause: err, details: { host, port } },
    );
  }
  return err;
}
