import { type TSchema, Type } from '@sinclair/typebox';
import { maxTenantWeight } from '../../store/auth-store.js';

/** A tenant as the admin routes show it: its limits and weight, never its webhook secret. */
export const TenantView = Type.Object({
  id: Type.String(),
  createdAt: Type.Integer({ description: 'milliseconds since the epoch' }),
  weight: Type.Number({
    description:
      "share of each model queue while several tenants have backlog (default 1); priorities order only the tenant's own tasks",
  }),
  rateLimitPerMinute: Type.Union([Type.Integer(), Type.Null()], {
    description: "requests a minute; null: the server's api.rateLimitPerMinute",
  }),
  maxQueuedTasks: Type.Union([Type.Integer(), Type.Null()], {
    description: "queued tasks at most; null: the server's api.maxQueuedTasks",
  }),
  maxStoredBytes: Type.Union([Type.Integer(), Type.Null()], {
    description: "input bytes the tenant's tasks may keep stored; null: the server's api.maxStoredBytes",
  }),
});

/** `GET /v1/tenants`. */
export const TenantList = Type.Object({ items: Type.Array(TenantView) });

/**
 * `schema` or null. The API's Ajv coerces types, so null is a `const` (a `type: 'null'` branch
 * would read a 0 that fails `schema`'s minimum as null: a weight of 0 silently reset to 1) and
 * comes first (the integer branch would turn null into 0 before the null branch is tried).
 */
function OrNull<T extends TSchema>(schema: T) {
  return Type.Union([Type.Unsafe<null>({ const: null }), schema], {
    ...(schema.description === undefined ? {} : { description: schema.description }),
  });
}

/** The most a rate or a queued-task limit may be: both are 32-bit integer columns (PostgreSQL `integer`). */
const maxInt32 = 2_147_483_647;

/** `PATCH /v1/tenants/:tenant`: a member left out keeps its value; null sets it back to the default. */
export const SetTenantBody = Type.Object(
  {
    weight: Type.Optional(
      OrNull(
        Type.Integer({
          minimum: 1,
          maximum: maxTenantWeight,
          description: `an integer 1-${maxTenantWeight}: with weights 2 and 1, two tenants with backlog get about 2/3 and 1/3 of the leases; null: 1`,
        }),
      ),
    ),
    rateLimitPerMinute: Type.Optional(
      OrNull(
        Type.Integer({
          minimum: 1,
          maximum: maxInt32,
          description: "requests a minute; null: the server's default",
        }),
      ),
    ),
    maxQueuedTasks: Type.Optional(
      OrNull(
        Type.Integer({
          minimum: 1,
          maximum: maxInt32,
          description: "queued tasks at most; null: the server's default",
        }),
      ),
    ),
    maxStoredBytes: Type.Optional(
      OrNull(
        Type.Integer({
          minimum: 1,
          maximum: Number.MAX_SAFE_INTEGER,
          description: "input bytes stored at most; null: the server's default",
        }),
      ),
    ),
  },
  { additionalProperties: false, examples: [{ weight: 2, rateLimitPerMinute: 600, maxQueuedTasks: 10_000 }] },
);
