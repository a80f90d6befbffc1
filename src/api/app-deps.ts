import type { FastifyBaseLogger, FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';
import type { BlobStore } from '../blobs/blob-store.js';
import type { Config } from '../config/schema.js';
import type { ModelCatalog } from '../core/model-catalog.js';
import type { Broker } from '../queue/broker.js';
import type { AuthStore } from '../store/auth-store.js';
import type { TaskStore } from '../store/task-store.js';
import type { WorkerRegistry } from '../store/worker-registry.js';
import type { FastPath } from './fast-path.js';

/** A registry's metrics as `getMetricsAsJSON()` gives them (what prom-client aggregates). */
export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** Milliseconds since the epoch; tests pass a fixed or stepped clock. */
export type Clock = () => number;

/** Everything the HTTP app needs, passed in: `buildApp` opens nothing and listens on nothing. */
export interface AppDeps {
  config: Config;
  store: TaskStore;
  broker: Broker;
  blobs: BlobStore;
  /**
   * The store writes each queued task's job in the transaction that creates it (the embedded
   * layout, `Backends.jobsWrittenByStore`): submissions then enqueue nothing. Default false.
   */
  jobsWrittenByStore?: boolean;
  catalog: ModelCatalog;
  auth: AuthStore;
  /** Signs and verifies the tokens of `POST /v1/auth/token` (HS256). At least 32 bytes. */
  jwtSecret: string | Buffer;
  logger?: FastifyBaseLogger;
  clock?: Clock;
  /** Where `/metrics` reads from; a fresh registry per app when absent (never the global one). */
  metricsRegistry?: Registry;
  /**
   * Metrics kept in other registries (the worker threads of `inferq serve`), as
   * `getMetricsAsJSON()` arrays; `/metrics` sums them into its own.
   */
  moreMetrics?: () => Promise<MetricsJson[]>;
  /** How often SSE streams and sync predict poll the store. Default 200 ms. */
  pollIntervalMs?: number;
  /** inferq's version, for `GET /v2` (the protocol's server metadata); default "unknown". */
  serverVersion?: string;
  /**
   * Warm workers in this process for non-durable calls (OIP infer, predict with `durable:
   * false`); without it those answer 503 INFERQ_FAST_PATH_UNAVAILABLE.
   */
  fastPath?: FastPath;
  /** Worker heartbeats for `GET /v1/workers`; without it the route lists none. */
  workers?: WorkerRegistry;
  /**
   * More plugins registered after the API routes and before `ready()` (e.g. the dashboard, which
   * lives in an upper layer and so is passed in rather than imported).
   */
  plugins?: readonly FastifyPluginAsync[];
}
