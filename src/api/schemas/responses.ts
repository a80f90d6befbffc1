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
    steps: Type.Optional(Type.Unknown()),
  },
  Open,
);

export const ModelList = Type.Object({ items: Type.Array(ModelView) }, Open);

const StateCounts = Type.Record(Type.String({ description: 'a task state' }), Type.Integer());

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
