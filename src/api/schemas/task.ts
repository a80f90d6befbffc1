import { Type } from '@sinclair/typebox';
import { taskStates } from '../../core/task-state.js';
import { Open, Query } from './common.js';

export const TaskStateSchema = Type.Union(taskStates.map((s) => Type.Literal(s)));

/** A task as the API shows it; times are milliseconds since the epoch. */
export const TaskView = Type.Object(
  {
    id: Type.String(),
    requestId: Type.String(),
    target: Type.String({ description: '`name@version`' }),
    targetKind: Type.Union([Type.Literal('model'), Type.Literal('pipeline')]),
    state: TaskStateSchema,
    priority: Type.Integer(),
    attempts: Type.Integer(),
    maxAttempts: Type.Integer(),
    input: Type.Object({
      sha256: Type.String(),
      size: Type.Integer(),
      mediaType: Type.String({ description: 'sniffed from the bytes' }),
      name: Type.Union([Type.String(), Type.Null()], {
        description: "the client's file name (metadata only, made safe to show), or null",
      }),
    }),
    params: Type.Record(Type.String(), Type.Unknown()),
    cached: Type.Boolean({ description: 'the result came from the result cache' }),
    error: Type.Union([Type.Null(), Type.Object({ code: Type.String(), message: Type.String() }, Open)]),
    callbackUrl: Type.Union([Type.Null(), Type.String()]),
    createdAt: Type.Number(),
    updatedAt: Type.Number(),
    finishedAt: Type.Union([Type.Null(), Type.Number()]),
    result: Type.Optional(Type.Unknown()),
    timeline: Type.Optional(Type.Array(Type.Object({ stage: Type.String(), at: Type.Number() }, Open))),
    webhook: Type.Optional(Type.Unknown({ description: 'delivery state and attempts of callbackUrl' })),
  },
  { $id: 'Task', ...Open },
);

const Priority = Type.Integer({ minimum: -1000, maximum: 1000, default: 0 });

/** One JSON input: exactly one of `text`, base64 `data` or structured `json`. */
const JsonInput = Type.Union([
  Type.Object(
    { text: Type.String(), name: Type.Optional(Type.String({ maxLength: 255 })) },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      data: Type.String({ contentEncoding: 'base64', description: 'bytes, base64' }),
      name: Type.Optional(Type.String({ maxLength: 255 })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    { json: Type.Unknown(), name: Type.Optional(Type.String({ maxLength: 255 })) },
    { additionalProperties: false },
  ),
]);

const submitFields = {
  params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  priority: Type.Optional(Priority),
  callbackUrl: Type.Optional(Type.String({ maxLength: 2048 })),
  text: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })])),
  data: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })])),
  inputs: Type.Optional(Type.Array(JsonInput, { minItems: 1 })),
};

/** JSON body of `POST /v1/tasks` (multipart carries the same fields as form fields). */
export const SubmitTasksBody = Type.Object(
  {
    target: Type.Optional(Type.String({ minLength: 1, description: '`name` or `name@version`' })),
    targets: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 100 })),
    ...submitFields,
  },
  // The first example is what the Swagger UI at /docs fills the body with.
  {
    additionalProperties: false,
    examples: [
      { target: 'echo', text: 'hello' },
      { targets: ['echo'], inputs: [{ text: 'a', name: 'a.txt' }, { json: { x: 1 } }], priority: 10 },
    ],
  },
);

/** JSON body of `POST /v1/models/{name}/predict`: one input, the model from the path. */
export const PredictBody = Type.Object(
  {
    ...submitFields,
    durable: Type.Optional(
      Type.Boolean({
        description:
          'false: run on the fast path (a warm worker, answered now, nothing stored, no task id); default true',
      }),
    ),
    resend: Type.Optional(
      Type.Boolean({
        description:
          'With durable: false. false: at most once to the model: a call whose remote (ZeroMQ) worker is lost mid-call fails with 503 INFERQ_FAST_PATH_WORKER_LOST instead of going to another worker (it may or may not have run); default true',
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      { text: 'hello' },
      { text: 'hello', durable: false },
      { text: 'hello', durable: false, resend: false },
    ],
  },
);

export const SubmitResponse = Type.Object(
  {
    requestId: Type.String(),
    replayed: Type.Boolean({ description: 'true when an Idempotency-Key matched an earlier request' }),
    tasks: Type.Array(
      Type.Object(
        {
          id: Type.String(),
          target: Type.String(),
          state: TaskStateSchema,
          cached: Type.Boolean(),
          inputSha256: Type.String(),
          inputName: Type.Union([Type.Null(), Type.String()]),
        },
        Open,
      ),
    ),
    warnings: Type.Optional(
      Type.Array(
        Type.Object(
          {
            code: Type.Literal('INFERQ_NO_WORKER'),
            target: Type.String({ description: 'the submitted model or pipeline, `name@version`' }),
            unserved: Type.String({
              description:
                'what no live worker serves: the target, or a model one of its pipeline steps runs',
            }),
            message: Type.String(),
          },
          Open,
        ),
        {
          description:
            'present when a target of the unfinished tasks has no live worker now: the tasks are kept, queued, until one starts',
        },
      ),
    ),
  },
  Open,
);

/** A time of a listing's range: milliseconds since the epoch, or an ISO 8601 date-time. */
function CreatedAt(description: string) {
  // 8.64e15 ms is the last instant a JavaScript Date holds (year 275760).
  return Type.Union([Type.Integer({ minimum: 0, maximum: 8.64e15 }), Type.String({ format: 'date-time' })], {
    description: `${description}: milliseconds since the epoch, or an ISO 8601 date-time (2026-11-24T08:00:00Z)`,
  });
}

export const ListTasksQuery = Query({
  state: Type.Optional(Type.Union([TaskStateSchema, Type.Array(TaskStateSchema)])),
  target: Type.Optional(Type.String()),
  requestId: Type.Optional(
    Type.String({
      description:
        "the tasks of one request; a pipeline task's id lists its steps (child tasks), which other listings leave out",
    }),
  ),
  inputSha256: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
  createdFrom: Type.Optional(CreatedAt('created at or after this time')),
  createdTo: Type.Optional(CreatedAt('created before this time')),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 512 })),
});

/** `?wait=` of `GET /v1/tasks/{id}` and `/result` (checked by routes/wait-until-final.ts). */
export const WaitQuery = Query({
  wait: Type.Optional(
    Type.String({
      description:
        'Long polling: how long the server may hold the request until the task is final ' +
        '(succeeded, failed or cancelled), then answer as without it. Milliseconds (`5000`) or a ' +
        "duration (`5s`, `250ms`), capped by the server's `api.maxWait` (default 30s). " +
        'Without it the answer is immediate.',
      examples: ['5000', '5s'],
    }),
  ),
});

export const FeedbackBody = Type.Object(
  { feedback: Type.Unknown({ description: 'anything JSON: the label or candidate the user chose…' }) },
  { additionalProperties: false, examples: [{ feedback: { label: 'cat', correct: true } }] },
);
