import type { FastifyBaseLogger } from 'fastify';
import type { AppDeps, Clock } from './app-deps.js';
import { ApiKeyCache } from './auth/key-cache.js';
import { RateLimiter } from './auth/rate-limiter.js';
import { type ApiMetrics, createApiMetrics } from './metrics.js';
import { ServingWorkers } from './serving-workers.js';
import { QueuedCounts } from './submit/queued-counts.js';
import { StoredBytes } from './submit/stored-bytes.js';
import { TaskWriter } from './submit/task-writer.js';
import { ParamsValidator } from './submit/validate-params.js';
import { TaskWakeups } from './task-wakeups.js';

/** The deps plus what the app derives from them once (validators, limiter, metrics). */
export interface ApiContext extends AppDeps {
  clock: Clock;
  logger: FastifyBaseLogger;
  pollIntervalMs: number;
  paramsValidator: ParamsValidator;
  rateLimiter: RateLimiter;
  metrics: ApiMetrics;
  /** Creates and enqueues submitted tasks, with group commit. */
  taskWriter: TaskWriter;
  /** Wakes event streams and predictions when a worker announces their tasks settled. */
  wakeups: TaskWakeups;
  /** Verified API keys, remembered for a few seconds (every request authenticates). */
  keyCache: ApiKeyCache;
  /** Queued tasks per tenant for the max-queued limit, counted at most once a second. */
  queuedCounts: QueuedCounts;
  /** Input bytes stored per tenant for the storage quota, counted at most every 10 s. */
  storedBytes: StoredBytes;
  /** Which models and pipelines live workers serve (worker heartbeats). */
  serving: ServingWorkers;
}

export function createApiContext(deps: AppDeps, logger: FastifyBaseLogger): ApiContext {
  const clock = deps.clock ?? Date.now;
  return {
    ...deps,
    clock,
    logger,
    pollIntervalMs: deps.pollIntervalMs ?? 200,
    paramsValidator: new ParamsValidator(),
    rateLimiter: new RateLimiter(clock),
    metrics: createApiMetrics(deps.metricsRegistry),
    taskWriter: new TaskWriter(deps.store, deps.broker, logger, {
      weightOf: async (tenant) =>
        deps.broker.capabilities.fairShares ? (await deps.auth.getTenant(tenant))?.weight : undefined,
      jobsWrittenByStore: deps.jobsWrittenByStore ?? false,
    }),
    wakeups: new TaskWakeups(deps.broker, logger),
    keyCache: new ApiKeyCache(deps.auth),
    queuedCounts: new QueuedCounts(clock),
    storedBytes: new StoredBytes(deps.store, clock),
    serving: new ServingWorkers(deps.workers, clock),
  };
}
