import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import { bundledModelsDir, ModelRepository } from '../runtime/model-repository.js';
import { readPipelines } from '../runtime/read-pipelines.js';
import type { Runtime } from '../runtime/runtime.js';
import { PostgresWorkerRegistry } from '../store/postgres/postgres-worker-registry.js';
import { SqliteWorkerRegistry } from '../store/sqlite/sqlite-worker-registry.js';
import type { WorkerRegistry } from '../store/worker-registry.js';
import { startPipelineSweeper } from '../worker/housekeeping/pipeline-sweeper.js';
import { loadRuntimes } from '../worker/load-runtimes.js';
import { ModelWorker } from '../worker/model-worker.js';
import { createParentNotifier } from '../worker/pipeline/notify-parents.js';
import { PipelineCoordinator } from '../worker/pipeline/pipeline-coordinator.js';
import { PipelinePixels } from '../worker/pipeline/pipeline-pixels.js';
import { WorkerMetrics } from '../worker/worker-metrics.js';
import type { Backends } from './open-backends.js';
import { packageVersion } from './package-version.js';

/** The model directory to serve: the configured one, or the bundled models when it is absent. */
export function modelsDir(config: Config): string {
  return existsSync(config.models.dir) ? config.models.dir : bundledModelsDir;
}

/** Heartbeats live beside the tasks, so every API host sees every worker. */
export async function openWorkerRegistry(config: Config): Promise<WorkerRegistry | undefined> {
  const url = config.store.url;
  if (url.startsWith('sqlite:')) return SqliteWorkerRegistry.open(url.slice('sqlite:'.length));
  if (/^postgres(ql)?:\/\//.test(url)) return PostgresWorkerRegistry.open(url);
  return undefined;
}

export interface RunningWorkers {
  worker: ModelWorker;
  /** The loaded models, warm: the fast path runs its batches on them too. */
  runtimes: readonly Runtime[];
  /** Runs the pipelines of the repository (`pipelines/*.yaml`). */
  coordinator: PipelineCoordinator;
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
  const registry = await openWorkerRegistry(config);
  // The coordinator's crops reach this process's model steps decoded (pipeline-pixels.ts).
  const pixels = new PipelinePixels();
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
    notifyParents: createParentNotifier(backends),
    pixels,
  });
  await worker.start();
  // Pipelines are checked against every model of the repository, not only those loaded here:
  // their steps may run on other workers.
  const models = await repository.list().catch(() => runtimes.map((r) => r.model));
  const loaded = await readPipelines(repository.dir, models);
  for (const [file, err] of Object.entries(loaded.invalid)) {
    unavailable[file.replace(/\.ya?ml$/, '')] = err.message;
    logger.error({ err, file }, 'pipeline is invalid; serving the others');
  }
  const only = options.only;
  const coordinator = new PipelineCoordinator({
    store: backends.store,
    broker: backends.broker,
    blobs: backends.blobs,
    pipelines: loaded.pipelines.filter(
      (p) => !only?.length || only.includes(p.name) || only.includes(`${p.name}@${p.version}`),
    ),
    workerId: worker.id,
    leaseMs: config.broker.leaseMs,
    pixels,
    jobsWrittenByStore: backends.jobsWrittenByStore,
    logger,
  });
  coordinator.start();
  await worker.servePipelines(coordinator.pipelines);
  // Pipelines whose wake-up was lost (every step final, task still running) are woken after a
  // quiet minute; see pipeline-sweeper.ts. Every worker host sweeps its own pipelines: a wake-up
  // is idempotent, so several hosts sweeping at once finish a pipeline once.
  const sweeper = startPipelineSweeper({
    store: backends.store,
    broker: backends.broker,
    pipelines: coordinator.pipelines,
    graceMs: 60_000,
    intervalMs: 30_000,
    logger,
  });
  return {
    worker,
    runtimes,
    coordinator,
    unavailable,
    async stop(stopOptions) {
      await sweeper.stop();
      await coordinator.stop(stopOptions);
      await worker.stop(stopOptions);
      await Promise.all(runtimes.map((r) => r.unload()));
      await registry?.close();
    },
  };
}
