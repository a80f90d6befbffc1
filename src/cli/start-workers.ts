import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import { bundledModelsDir, ModelRepository } from '../runtime/model-repository.js';
import { SqliteWorkerRegistry } from '../store/sqlite/sqlite-worker-registry.js';
import type { WorkerRegistry } from '../store/worker-registry.js';
import { loadRuntimes } from '../worker/load-runtimes.js';
import { ModelWorker } from '../worker/model-worker.js';
import { WorkerMetrics } from '../worker/worker-metrics.js';
import type { Backends } from './open-backends.js';
import { packageVersion } from './package-version.js';

/** The model directory to serve: the configured one, or the bundled models when it is absent. */
export function modelsDir(config: Config): string {
  return existsSync(config.models.dir) ? config.models.dir : bundledModelsDir;
}

export function openWorkerRegistry(config: Config): WorkerRegistry | undefined {
  const url = config.store.url;
  return url.startsWith('sqlite:') ? SqliteWorkerRegistry.open(url.slice('sqlite:'.length)) : undefined;
}

export interface RunningWorkers {
  worker: ModelWorker;
  /** Models that could not be loaded, with the reason. */
  unavailable: Record<string, string>;
  stop(options?: { abort?: boolean }): Promise<void>;
}

/** Loads the models and starts a ModelWorker over the backends (embedded `serve` and `worker`). */
export async function startWorkers(options: {
  config: Config;
  backends: Backends;
  logger: Logger;
  metricsRegistry: Registry;
  only?: readonly string[];
}): Promise<RunningWorkers> {
  const { config, backends, logger } = options;
  const repository = new ModelRepository(modelsDir(config));
  const { runtimes, unavailable } = await loadRuntimes(repository, {
    ...(options.only ? { only: options.only } : {}),
    ...(config.workers.threads ? { runtime: { threads: config.workers.threads } } : {}),
    logger,
  });
  const registry = openWorkerRegistry(config);
  const worker = new ModelWorker({
    store: backends.store,
    broker: backends.broker,
    blobs: backends.blobs,
    runtimes,
    unavailable,
    ...(registry ? { registry } : {}),
    metrics: new WorkerMetrics(options.metricsRegistry),
    leaseMs: config.broker.leaseMs,
    version: packageVersion,
    logger,
  });
  await worker.start();
  return {
    worker,
    unavailable,
    async stop(stopOptions) {
      await worker.stop(stopOptions);
      await Promise.all(runtimes.map((r) => r.unload()));
      await registry?.close();
    },
  };
}
