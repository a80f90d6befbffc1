/**
 * The public entry of the `inferq` package (`import … from 'inferq'`): what an application that
 * embeds inferq needs to run the HTTP API and the workers in its own process, over the backends
 * it chooses. The SDK alone, without the server's dependencies, is `inferq/client`.
 */
export type { AppDeps, Clock } from './api/app-deps.js';
export { buildApp, type InferqApp, type RouteInfo } from './api/build-app.js';
export type { BlobInfo, BlobStore, PutOptions } from './blobs/blob-store.js';
export { FsBlobStore } from './blobs/fs-blob-store.js';
export { InlineBlobStore } from './blobs/inline-blob-store.js';
export { PostgresBlobStore } from './blobs/postgres-blob-store.js';
export { openAuthStore } from './cli/auth-bootstrap.js';
export { buildCatalog } from './cli/build-catalog.js';
export { type Backends, openBackends, openBlobs, openBroker, openStore } from './cli/open-backends.js';
export { openWorkerRegistry, type RunningWorkers, startWorkers } from './cli/start-workers.js';
export {
  type ClientOptions,
  fileInput,
  InferqClient,
  InferqClientError,
  isInferqClientError,
  verifyWebhook,
} from './client/index.js';
export { type LoadConfigOptions, loadConfig } from './config/load-config.js';
export type { Config } from './config/schema.js';
export type { CatalogEntry, ModelCatalog } from './core/model-catalog.js';
export { StaticModelCatalog } from './core/static-model-catalog.js';
export { dashboardPlugin } from './dashboard/dashboard-plugin.js';
export { type ErrorCode, errorCodes, InferqError } from './errors/index.js';
export type { Broker, BrokerCapabilities } from './queue/broker.js';
export { RabbitMqBroker } from './queue/rabbitmq/rabbitmq-broker.js';
export { RedisBroker } from './queue/redis/redis-broker.js';
export { SqliteBroker } from './queue/sqlite/sqlite-broker.js';
export type { AuthStore } from './store/auth-store.js';
export type { Feedback } from './store/feedback.js';
export type { IdempotencyKeys } from './store/idempotency-keys.js';
export { PostgresAuthStore } from './store/postgres/postgres-auth-store.js';
export { PostgresTaskStore } from './store/postgres/postgres-task-store.js';
export { PostgresWorkerRegistry } from './store/postgres/postgres-worker-registry.js';
export { SqliteAuthStore } from './store/sqlite/sqlite-auth-store.js';
export { SqliteTaskStore } from './store/sqlite/sqlite-task-store.js';
export { SqliteWorkerRegistry } from './store/sqlite/sqlite-worker-registry.js';
export { type TaskDatabase, type TaskRoles, taskRoles } from './store/task-database.js';
export type { TaskStats } from './store/task-stats.js';
export type { TaskStore } from './store/task-store.js';
export type { WebhookDeliveries } from './store/webhook-deliveries.js';
export type { WorkerHeartbeat, WorkerInfo, WorkerRegistry } from './store/worker-registry.js';
