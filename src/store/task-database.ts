import type { Feedback } from './feedback.js';
import type { IdempotencyKeys } from './idempotency-keys.js';
import type { TaskStats } from './task-stats.js';
import type { TaskStore } from './task-store.js';
import type { WebhookDeliveries } from './webhook-deliveries.js';

/**
 * A task database that plays every role: what the SQL stores (SqliteTaskStore,
 * PostgresTaskStore) are, and what opening a store URL gives. Callers never take it whole: each
 * asks for its role ({@link TaskRoles}).
 */
export type TaskDatabase = TaskStore & WebhookDeliveries & IdempotencyKeys & Feedback & TaskStats;

/** The roles of a task database, each under its own name: what the API's deps and the CLI pass. */
export interface TaskRoles {
  store: TaskStore;
  webhooks: WebhookDeliveries;
  idempotencyKeys: IdempotencyKeys;
  feedback: Feedback;
  stats: TaskStats;
}

/** One database in every role. */
export function taskRoles(db: TaskDatabase): TaskRoles {
  return { store: db, webhooks: db, idempotencyKeys: db, feedback: db, stats: db };
}
