import { Type } from '@sinclair/typebox';
import { Open } from './common.js';
import { TaskStateSchema, TaskView } from './task.js';

/**
 * Response bodies of the read routes. The routes build these objects; the schemas document them
 * for OpenAPI and type the SDK (`inferq/client`), so the client never hand-copies a shape.
 */

/** `GET /v1/tasks`: one page, newest first. */
export const TaskPage = Type.Object(
  { items: Type.Array(TaskView), nextCursor: Type.Union([Type.Null(), Type.String()]) },
  Open,
);

/** `GET /v1/tasks/{id}/result`. */
export const TaskResultBody = Type.Object(
  { id: Type.String(), cached: Type.Boolean(), result: Type.Unknown() },
  Open,
);

/** `POST /v1/models/{name}/predict` with `durable: false`: the result, with no task behind it. */
export const FastPredictResponse = Type.Object(
  {
    target: Type.String({ description: '`name@version` of the model that ran' }),
    targetKind: Type.Literal('model'),
    state: Type.Literal('succeeded'),
    durable: Type.Literal(false),
    params: Type.Record(Type.String(), Type.Unknown()),
    result: Type.Unknown(),
  },
  Open,
);

/** `DELETE /v1/tasks/{id}`. */
export const CancelResponse = Type.Object(
  { id: Type.String(), state: TaskStateSchema, purged: Type.Boolean() },
  Open,
);

/** `POST /v1/tasks/{id}/feedback`. */
export const FeedbackResponse = Type.Object(
  {
    id: Type.String(),
    feedback: Type.Array(Type.Object({ feedback: Type.Unknown(), at: Type.Number() }, Open)),
  },
  Open,
);

/** `POST /v1/auth/token`. */
export const TokenResponse = Type.Object(
  {
    token: Type.String(),
    tokenType: Type.Literal('Bearer'),
    expiresIn: Type.Integer(),
    tenant: Type.String(),
    admin: Type.Boolean(),
  },
  Open,
);

export const QueueDepthView = Type.Object(
  { waiting: Type.Integer(), delayed: Type.Integer(), leased: Type.Integer(), dead: Type.Integer() },
  Open,
);

/** One model or pipeline of `GET /v1/models`. Pipelines have `steps`; models have the rest. */
export const ModelView = Type.Object(
  {
    name: Type.String(),
    version: Type.String(),
    ref: Type.String({ description: '`name@version`' }),
    kind: Type.Union([Type.Literal('model'), Type.Literal('pipeline')]),
    available: Type.Boolean(),
    unavailableReason: Type.Optional(Type.String()),
    description: Type.Union([Type.Null(), Type.String()]),
    queue: Type.Union([Type.Null(), QueueDepthView]),
    workers: Type.Optional(
      Type.Union([Type.Null(), Type.Integer()], {
        description: 'live workers serving it (null without a worker registry)',
      }),
    ),
    cache: Type.Boolean({
      description:
        'whether a repeat submission (same version, input and params) is answered from the result cache',
    }),
    runtime: Type.Optional(Type.String()),
    input: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    params: Type.Optional(Type.Unknown()),
    output: Type.Optional(Type.Unknown()),
    batching: Type.Optional(
      Type.Object(
        {
          maxBatchSize: Type.Integer(),
          maxDelayMs: Type.Number(),
          preferredBatchSizes: Type.Optional(Type.Array(Type.Integer())),
        },
        Open,
      ),
    ),
    instances: Type.Optional(Type.Integer()),
    timeoutMs: Type.Optional(Type.Union([Type.Null(), Type.Number()])),
    maxAttempts: Type.Optional(Type.Union([Type.Null(), Type.Integer()])),
    executionProviders: Type.Optional(
      Type.Array(Type.Unknown(), {
        description: "onnx models: model.yaml's execution providers, in order of preference",
      }),
    ),
    fallback: Type.Optional(Type.Union([Type.Literal('cpu'), Type.Literal('none')])),
    runsOn: Type.Optional(
      Type.Array(Type.String(), {
        description:
          'onnx models: the provider each live worker runs it on (`cpu`, `cuda:0`…), one entry per worker',
      }),
    ),
    steps: Type.Optional(Type.Unknown()),
  },
  Open,
);

export const ModelList = Type.Object({ items: Type.Array(ModelView) }, Open);

const StateCounts = Type.Record(Type.String({ description: 'a task state' }), Type.Integer());

const CacheHits = {
  cacheHits: Type.Integer({
    description:
      'succeeded tasks served from the result cache (in `succeeded`, not in the latency percentiles)',
  }),
  hitRate: Type.Union([Type.Null(), Type.Number()], {
    description: 'cacheHits / finished; null if none finished',
  }),
};

/** `GET /v1/stats`. */
export const StatsResponse = Type.Object(
  {
    scope: Type.String({ description: 'the tenant, or `all`' }),
    windowSeconds: Type.Integer(),
    byTarget: Type.Array(Type.Object({ target: Type.String(), counts: StateCounts }, Open)),
    recent: Type.Array(
      Type.Object(
        {
          target: Type.String(),
          finished: Type.Integer(),
          succeeded: Type.Integer(),
          ...CacheHits,
          p50Ms: Type.Union([Type.Null(), Type.Number()]),
          p90Ms: Type.Union([Type.Null(), Type.Number()]),
          p99Ms: Type.Union([Type.Null(), Type.Number()]),
          perSecond: Type.Number(),
        },
        Open,
      ),
    ),
    queues: Type.Record(Type.String(), Type.Union([Type.Null(), QueueDepthView])),
  },
  Open,
);

const Ms = Type.Union([Type.Null(), Type.Number()]);

/** One time bucket of `GET /v1/stats/history`: the tasks that finished in it. */
export const HistoryBucketView = Type.Object(
  {
    start: Type.Number({ description: 'bucket start, ms since the epoch' }),
    seconds: Type.Number({
      description: 'seconds of the bucket elapsed so far (less in the current bucket)',
    }),
    finished: Type.Integer(),
    succeeded: Type.Integer(),
    failed: Type.Integer(),
    cancelled: Type.Integer(),
    perSecond: Type.Number({ description: 'finished tasks per second' }),
    errorRate: Type.Union([Type.Null(), Type.Number()], { description: 'failed / finished; null if none' }),
    ...CacheHits,
    p50Ms: Ms,
    p95Ms: Ms,
    p99Ms: Ms,
    batchSize: Type.Union([Type.Null(), Type.Number()], {
      description: 'items per model run achieved, averaged over the runs of the bucket',
    }),
  },
  Open,
);

/** `GET /v1/stats/history`: every bucket of the window, oldest first, empty ones included. */
export const StatsHistoryResponse = Type.Object(
  {
    scope: Type.String({ description: 'the tenant, or `all`' }),
    windowSeconds: Type.Integer(),
    bucketSeconds: Type.Integer(),
    from: Type.Number(),
    to: Type.Number(),
    buckets: Type.Array(HistoryBucketView),
  },
  Open,
);

const Percentiles = Type.Object({ p50: Ms, p95: Ms }, Open);

/** `GET /v1/stats/models`: where each model's time goes. */
export const LatencyBreakdownResponse = Type.Object(
  {
    scope: Type.String(),
    windowSeconds: Type.Integer(),
    items: Type.Array(
      Type.Object(
        {
          target: Type.String(),
          tasks: Type.Integer({ description: 'succeeded tasks of the window run by a model worker' }),
          queueWaitMs: Percentiles,
          batchWaitMs: Percentiles,
          computeMs: Percentiles,
          totalMs: Percentiles,
          batchSize: Type.Union([Type.Null(), Type.Number()]),
        },
        Open,
      ),
    ),
  },
  Open,
);

const ActivityCounts = {
  queued: Type.Integer({ description: 'queued now' }),
  running: Type.Integer({ description: 'running now' }),
  finished: Type.Integer({ description: 'finished in the window' }),
  succeeded: Type.Integer(),
  failed: Type.Integer(),
  cancelled: Type.Integer(),
  perSecond: Type.Number({ description: 'finished per second over the window' }),
  errorRate: Type.Union([Type.Null(), Type.Number()], { description: 'failed / finished; null if none' }),
  ...CacheHits,
};

/**
 * `GET /v1/stats/overview`: the backlog now and what finished in the window, per target and in
 * total, and queue depths. Reads only the unfinished tasks and the window (cheap at any store size).
 */
export const StatsOverviewResponse = Type.Object(
  {
    scope: Type.String({ description: 'the tenant, or `all`' }),
    windowSeconds: Type.Integer(),
    totals: Type.Object(ActivityCounts, Open),
    targets: Type.Array(
      Type.Object({ target: Type.String(), ...ActivityCounts, p50Ms: Ms, p95Ms: Ms, p99Ms: Ms }, Open),
    ),
    queues: Type.Record(Type.String(), Type.Union([Type.Null(), QueueDepthView])),
  },
  Open,
);

/** The `stats` event of `GET /v1/stats/events`: the overview, and the latest history buckets. */
export const StatsEventData = Type.Object(
  {
    overview: StatsOverviewResponse,
    history: StatsHistoryResponse,
  },
  Open,
);

/** One worker of `GET /v1/workers`, from its last heartbeat. */
export const WorkerView = Type.Object(
  {
    id: Type.String(),
    host: Type.String(),
    pid: Type.Integer(),
    models: Type.Array(Type.String()),
    inFlight: Type.Integer(),
    version: Type.String(),
    state: Type.Union([Type.Literal('running'), Type.Literal('draining')]),
    startedAt: Type.Number(),
    lastSeenAt: Type.Number(),
    heartbeatAgeMs: Type.Number(),
    stale: Type.Boolean({ description: 'no heartbeat for longer than staleAfterMs' }),
    unavailable: Type.Optional(Type.Record(Type.String(), Type.String())),
  },
  Open,
);

export const WorkerList = Type.Object(
  {
    items: Type.Array(WorkerView),
    staleAfterMs: Type.Integer(),
    registry: Type.Boolean({ description: 'false when this API host has no worker registry to read' }),
  },
  Open,
);

/** `GET /v1/webhooks/secret` and its rotation. */
export const WebhookSecret = Type.Object({
  tenant: Type.String(),
  secret: Type.String({ description: 'the HMAC-SHA256 key of the signatures' }),
  header: Type.String({ description: 'the request header that carries the signature' }),
  scheme: Type.String({ description: 'how the signature is made, to check it' }),
});
