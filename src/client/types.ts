import type { Static } from '@sinclair/typebox';
import type {
  CancelResponse,
  FastPredictResponse,
  FeedbackResponse,
  LatencyBreakdownResponse,
  ModelList,
  ModelView,
  QueueDepthView,
  StatsEventData,
  StatsHistoryResponse,
  StatsOverviewResponse,
  StatsResponse,
  TaskPage,
  TaskResultBody,
  TokenResponse,
  WebhookSecret,
  WorkerList,
  WorkerView,
} from '../api/schemas/responses.js';
import type {
  ListTasksQuery,
  SubmitResponse,
  SubmitTasksBody,
  TaskStateSchema,
  TaskView,
} from '../api/schemas/task.js';
import type { SetTenantBody, TenantList, TenantView } from '../api/schemas/tenant.js';

/*
 * Every type here is derived from the API's own TypeBox schemas (type-only imports: nothing of
 * the server is bundled into a client, in Node or in the browser).
 */

export type Task = Static<typeof TaskView>;
export type TaskState = Static<typeof TaskStateSchema>;
export type TaskListPage = Static<typeof TaskPage>;
export type TaskResult = Static<typeof TaskResultBody>;
/** The answer of {@link InferqClient.predictNow}: a result with no task behind it. */
export type FastPrediction = Static<typeof FastPredictResponse>;
export type Submission = Static<typeof SubmitResponse>;
export type SubmittedTask = Submission['tasks'][number];
export type CancelResult = Static<typeof CancelResponse>;
export type FeedbackResult = Static<typeof FeedbackResponse>;
export type Token = Static<typeof TokenResponse>;
export type WebhookSecretInfo = Static<typeof WebhookSecret>;
export type Model = Static<typeof ModelView>;
export type Models = Static<typeof ModelList>;
export type QueueDepth = Static<typeof QueueDepthView>;
export type Stats = Static<typeof StatsResponse>;
export type StatsOverview = Static<typeof StatsOverviewResponse>;
export type StatsHistory = Static<typeof StatsHistoryResponse>;
export type HistoryBucket = StatsHistory['buckets'][number];
export type LatencyBreakdown = Static<typeof LatencyBreakdownResponse>;
/** One `stats` event of `GET /v1/stats/events`. */
export type StatsSnapshot = Static<typeof StatsEventData>;
export type Worker = Static<typeof WorkerView>;
export type Workers = Static<typeof WorkerList>;
export type Tenant = Static<typeof TenantView>;
export type Tenants = Static<typeof TenantList>;
/** What `setTenant` changes: a member left out keeps its value, null sets the default. */
export type TenantSettings = Static<typeof SetTenantBody>;

/** Filters of `list` (the query of `GET /v1/tasks` without the cursor). */
export type TaskFilter = Omit<Static<typeof ListTasksQuery>, 'cursor'>;

/** Submission fields other than the inputs and targets. */
export type SubmitOptions = Pick<Static<typeof SubmitTasksBody>, 'params' | 'priority' | 'callbackUrl'> & {
  /** Sent as `Idempotency-Key`; a random one is made when absent, so retries never duplicate work. */
  idempotencyKey?: string;
  signal?: AbortSignal;
};
