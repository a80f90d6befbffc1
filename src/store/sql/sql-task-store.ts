import type { ResultCacheKey, Task, TaskWithTimeline, TimelineEntry } from '../../core/task.js';
import type { TaskState } from '../../core/task-state.js';
import type { FeedbackEntry } from '../feedback.js';
import type { IdempotencyClaim, IdempotencyRecord } from '../idempotency-keys.js';
import { latencyBreakdown } from '../stats/latency-breakdown.js';
import { activityStats } from '../stats/task-activity.js';
import { taskHistory } from '../stats/task-history.js';
import { taskStats } from '../stats/task-summary.js';
import { rowToTask, storedInputBytesSql, type TaskRow } from '../task-rows.js';
import type {
  HistoryBucket,
  HistoryRequest,
  LatencyBreakdown,
  StatsSummary,
  TargetActivity,
} from '../task-stats.js';
import type {
  BatchClaim,
  ClaimRequest,
  ClaimResult,
  CompleteRequest,
  FailRequest,
  Page,
  PageRequest,
  Settlement,
  TaskFilter,
  TaskLease,
} from '../task-store.js';
import type { WebhookAttempt, WebhookDelivery, WebhookOutcome } from '../webhook-deliveries.js';
import { getCachedResult } from './cached-result.js';
import { cancelTask } from './cancel-task.js';
import { claimTasks } from './claim-tasks.js';
import { anyDueSql, claimDueWebhooks, dueParams } from './due-webhooks.js';
import { listExpiredLeases } from './expired-leases.js';
import { claimIdempotencyKey, deleteKeySql } from './idempotency-keys.js';
import { countTasks, listTasks } from './list-tasks.js';
import { readTaskWithTimeline, selectTaskSql } from './read-task.js';
import { releaseTask } from './release-task.js';
import { renewLeasesParams, renewLeasesSql } from './renew-leases.js';
import { settleTasks } from './settle-tasks.js';
import type { SqlDriver } from './sql-driver.js';
import { addFeedback, listFeedback } from './task-feedback.js';
import { appendTimelineSql, timelineParams } from './task-timeline.js';
import { recordWebhookAttempt } from './webhook-attempt.js';
import { getWebhookDelivery } from './webhook-delivery.js';

/**
 * What SQLite and PostgreSQL share to the letter, written once over a {@link SqlDriver}: of
 * `TaskStore` the lease and its transitions (claim, settle, renew, release, cancel), reads,
 * listings and counts, the result cache lookup; and the other roles whole: `WebhookDeliveries`
 * (due-webhooks.ts, webhook-attempt.ts, webhook-delivery.ts), `IdempotencyKeys`, `Feedback`,
 * `TaskStats` (store/stats/). SqliteTaskStore and PostgresTaskStore extend it (one level,
 * nothing overridden) and add only what each does its own way: creating tasks and child tasks,
 * retention, ping and close.
 */
export abstract class SqlTaskStore {
  protected constructor(protected readonly driver: SqlDriver) {}

  async claimTask(id: string, request: ClaimRequest): Promise<ClaimResult> {
    const [result] = await this.claimTasks([{ ...request, id }]);
    return result!;
  }

  async completeTask(id: string, request: CompleteRequest): Promise<boolean> {
    const [written] = await this.settleTasks([{ ...request, id, outcome: 'succeeded' }]);
    return written!;
  }

  async failTask(id: string, request: FailRequest): Promise<boolean> {
    const [written] = await this.settleTasks([{ ...request, id, outcome: 'failed' }]);
    return written!;
  }

  async claimTasks(claims: readonly BatchClaim[]): Promise<ClaimResult[]> {
    if (claims.length === 0) return [];
    return this.driver.tx(claimTasks(this.driver.dialect, claims));
  }

  async settleTasks(settlements: readonly Settlement[]): Promise<boolean[]> {
    if (settlements.length === 0) return [];
    return this.driver.tx(settleTasks(this.driver.dialect, settlements));
  }

  async renewLeases(
    leases: readonly TaskLease[],
    leaseMs: number,
    at: number = Date.now(),
  ): Promise<string[]> {
    if (leases.length === 0) return [];
    const rows = await this.driver.all<{ id: string }>(renewLeasesSql(this.driver.dialect), {
      until: at + leaseMs,
      ...renewLeasesParams(this.driver.dialect, leases),
    });
    return rows.map((row) => row.id);
  }

  async releaseTask(id: string, leaseToken: string, reason: string): Promise<boolean> {
    const at = Date.now();
    return this.driver.tx(() => releaseTask(this.driver.dialect, id, leaseToken, reason, at));
  }

  async listExpiredLeases(before: number, limit = 500): Promise<Task[]> {
    return listExpiredLeases(this.driver, before, limit);
  }

  async cancelTask(id: string, at: number = Date.now()): Promise<Task | undefined> {
    return this.driver.tx(() => cancelTask(this.driver.dialect, id, at));
  }

  async getTask(id: string): Promise<TaskWithTimeline | undefined> {
    return this.driver.read(() => readTaskWithTimeline(id));
  }

  async getTaskWithoutTimeline(id: string): Promise<Task | undefined> {
    // One statement, no transaction (on PostgreSQL getTask's snapshot costs five round trips).
    const row = await this.driver.one<TaskRow>(selectTaskSql, { id });
    return row === undefined ? undefined : rowToTask(row);
  }

  async listTasks(filter: TaskFilter, page: PageRequest = {}): Promise<Page<Task>> {
    return listTasks(this.driver, filter, page);
  }

  async countTasks(filter: TaskFilter): Promise<Record<TaskState, number>> {
    return countTasks(this.driver, filter);
  }

  async appendTimeline(id: string, entries: readonly TimelineEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const d = this.driver.dialect;
    // One statement: atomic without a transaction.
    await this.driver.run(
      appendTimelineSql(d),
      timelineParams(
        d,
        entries.map((entry) => ({ id, entry })),
      ),
    );
  }

  async getCachedResult(key: ResultCacheKey): Promise<{ result: unknown; taskId: string } | undefined> {
    return getCachedResult(this.driver, key);
  }

  async storedInputBytes(owner: string): Promise<number> {
    return (await this.driver.one<{ bytes: number }>(storedInputBytesSql('@owner'), { owner }))?.bytes ?? 0;
  }

  async referencedInputs(sha256s: readonly string[]): Promise<Set<string>> {
    if (sha256s.length === 0) return new Set();
    // One list parameter, however many hashes: no IN-list chunking, no variable limit.
    const rows = await this.driver.all<{ input_sha256: string }>(
      `SELECT DISTINCT input_sha256 FROM tasks WHERE ${this.driver.dialect.inList('input_sha256', 'hashes')}`,
      this.driver.dialect.listParam('hashes', [...new Set(sha256s)]),
    );
    return new Set(rows.map((row) => row.input_sha256));
  }

  async claimIdempotencyKey(record: IdempotencyRecord): Promise<IdempotencyClaim> {
    return claimIdempotencyKey(this.driver, record);
  }

  async releaseIdempotencyKey(owner: string, key: string): Promise<void> {
    await this.driver.run(deleteKeySql, { owner, key });
  }

  async addFeedback(taskId: string, entry: FeedbackEntry): Promise<boolean> {
    return addFeedback(this.driver, taskId, entry);
  }

  async listFeedback(taskId: string): Promise<FeedbackEntry[]> {
    return listFeedback(this.driver, taskId);
  }

  async dueWebhooks(
    now: number,
    limit: number,
    claimMs: number,
    excludeOwners: readonly string[] = [],
  ): Promise<Task[]> {
    const d = this.driver.dialect;
    if ((await this.driver.one(anyDueSql(d), dueParams(d, now, excludeOwners))) === undefined) return [];
    return this.driver.tx(() => claimDueWebhooks(d, now, limit, claimMs, excludeOwners));
  }

  async recordWebhookAttempt(
    taskId: string,
    attempt: WebhookAttempt,
    outcome: WebhookOutcome,
  ): Promise<void> {
    await this.driver.tx(() => recordWebhookAttempt(taskId, attempt, outcome));
  }

  async getWebhookDelivery(taskId: string): Promise<WebhookDelivery | undefined> {
    return getWebhookDelivery(this.driver, taskId);
  }

  async taskStats(filter: { owner?: string; since: number }): Promise<StatsSummary> {
    return taskStats(this.driver, filter);
  }

  async activityStats(filter: { owner?: string; since: number }): Promise<TargetActivity[]> {
    return activityStats(this.driver, filter);
  }

  async taskHistory(request: HistoryRequest): Promise<HistoryBucket[]> {
    return taskHistory(this.driver, request);
  }

  async latencyBreakdown(filter: { owner?: string; since: number }): Promise<LatencyBreakdown[]> {
    return latencyBreakdown(this.driver, filter);
  }

  async deleteTask(id: string): Promise<boolean> {
    return (await this.driver.run('DELETE FROM tasks WHERE id = @id', { id })) > 0;
  }
}
