import type { FastifyBaseLogger } from 'fastify';
import type { AppDeps, Clock } from './app-deps.js';
import { RateLimiter } from './auth/rate-limiter.js';
import { type ApiMetrics, createApiMetrics } from './metrics.js';
import { ParamsValidator } from './submit/validate-params.js';

/** The deps plus what the app derives from them once (validators, limiter, metrics). */
export interface ApiContext extends AppDeps {
  clock: Clock;
  logger: FastifyBaseLogger;
  pollIntervalMs: number;
  paramsValidator: ParamsValidator;
  rateLimiter: RateLimiter;
  metrics: ApiMetrics;
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
  };
}
