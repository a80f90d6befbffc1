import type { Task } from '../core/task.js';

/** One try at delivering a final task to its callback URL. */
export interface WebhookAttempt {
  attempt: number;
  at: number;
  /** HTTP status answered, or null when no answer came (refused, timed out). */
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

export type WebhookDeliveryState = 'pending' | 'delivered' | 'failed';

export interface WebhookDelivery {
  state: WebhookDeliveryState;
  attempts: WebhookAttempt[];
  nextAt: number | null;
}

/** What happened after one attempt: delivered, given up, or try again at `nextAt`. */
export type WebhookOutcome =
  | { state: 'delivered' }
  | { state: 'failed' }
  | { state: 'pending'; nextAt: number };

/**
 * The webhook deliveries of tasks with a callback URL: a pending delivery is written with the task
 * (createTasks), claimed when due by a dispatcher on any API host, and its attempts recorded.
 */
export interface WebhookDeliveries {
  /**
   * Claims up to `limit` final tasks with a callback URL whose delivery is due at `now` (never
   * delivered, or a retry whose backoff has passed), oldest first: each is hidden from every
   * other caller, on any host, for `claimMs`, so one delivery is made once however many API
   * hosts poll. Recording the attempt sets what follows; a claimer that dies instead leaves the
   * delivery due again when the claim runs out. Tasks owned by `excludeOwners` are left for later
   * (a dispatcher skips tenants already at their concurrency, so they cannot crowd out others).
   */
  dueWebhooks(
    now: number,
    limit: number,
    claimMs: number,
    excludeOwners?: readonly string[],
  ): Promise<Task[]>;
  /** Records one attempt and what follows it. */
  recordWebhookAttempt(taskId: string, attempt: WebhookAttempt, outcome: WebhookOutcome): Promise<void>;
  /** The delivery of a task's callback, or undefined when it has no callback URL. */
  getWebhookDelivery(taskId: string): Promise<WebhookDelivery | undefined>;
}
