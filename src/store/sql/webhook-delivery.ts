import type { WebhookDelivery, WebhookDeliveryState } from '../webhook-deliveries.js';
import type { SqlDriver } from './sql-driver.js';

/** A task's webhook delivery state. Parameters: `@taskId`. */
export const selectDeliverySql = 'SELECT state, next_at FROM webhook_deliveries WHERE task_id = @taskId';

/** Its attempts in order. Parameters: `@taskId`. */
export const selectAttemptsSql = `SELECT attempt, at, status_code, error, duration_ms FROM webhook_attempts
  WHERE task_id = @taskId ORDER BY seq`;

interface AttemptRow {
  attempt: number;
  at: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
}

/** A task's webhook delivery and its attempts (TaskStore.getWebhookDelivery); undefined without one. */
export async function getWebhookDelivery(
  driver: SqlDriver,
  taskId: string,
): Promise<WebhookDelivery | undefined> {
  const delivery = await driver.one<{ state: WebhookDeliveryState; next_at: number }>(selectDeliverySql, {
    taskId,
  });
  if (delivery === undefined) return undefined;
  const rows = await driver.all<AttemptRow>(selectAttemptsSql, { taskId });
  return {
    state: delivery.state,
    nextAt: delivery.state === 'pending' ? delivery.next_at : null,
    attempts: rows.map((row) => ({
      attempt: row.attempt,
      at: row.at,
      statusCode: row.status_code,
      error: row.error,
      durationMs: row.duration_ms,
    })),
  };
}
