import { type Static, Type } from '@sinclair/typebox';

const Duration = Type.Union(
  [Type.Integer({ minimum: 0 }), Type.String({ pattern: '^\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)?$' })],
  {
    description: 'milliseconds, or a string such as "30s", "5m", "7d"',
  },
);

const section = <T extends Parameters<typeof Type.Object>[0]>(props: T) =>
  Type.Object(props, { additionalProperties: false });

/**
 * `inferq.yaml`. Every key is optional (defaults below); unknown keys are refused with their
 * name, because a misspelt key silently ignored is a production incident waiting to happen.
 */
export const ConfigSchema = section({
  dataDir: Type.String({ default: './data' }),
  server: Type.Optional(
    section({
      host: Type.Optional(Type.String()),
      port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
      /** The most one JSON body may be (multipart files stream and are limited by blobs.maxBytes). */
      bodyLimitBytes: Type.Optional(Type.Integer({ minimum: 1 })),
      /** JSON bodies held in memory at once, all tenants together. */
      maxBufferedBytes: Type.Optional(Type.Integer({ minimum: 1 })),
      /** JSON bodies held in memory at once for one tenant. */
      maxBufferedBytesPerTenant: Type.Optional(Type.Integer({ minimum: 1 })),
    }),
  ),
  api: Type.Optional(
    section({
      /** Lets webhooks reach loopback, link-local and private addresses (tests, single-host setups). */
      allowPrivateCallbacks: Type.Optional(Type.Boolean()),
      tokenTtl: Type.Optional(Duration),
      rateLimitPerMinute: Type.Optional(Type.Integer({ minimum: 1 })),
      maxQueuedTasks: Type.Optional(Type.Integer({ minimum: 1 })),
      /** Input bytes one tenant's tasks may keep stored (default: no quota). */
      maxStoredBytes: Type.Optional(Type.Integer({ minimum: 1 })),
      maxTasksPerRequest: Type.Optional(Type.Integer({ minimum: 1 })),
      predictTimeout: Type.Optional(Duration),
      /** The most a `?wait=` read of a task or result may hold the request (default 30s). */
      maxWait: Type.Optional(Duration),
      webhookMaxAttempts: Type.Optional(Type.Integer({ minimum: 1 })),
    }),
  ),
  store: Type.Optional(section({ url: Type.Optional(Type.String({ minLength: 1 })) })),
  broker: Type.Optional(
    section({
      url: Type.Optional(Type.String({ minLength: 1 })),
      leaseMs: Type.Optional(Duration),
      reapIntervalMs: Type.Optional(Duration),
    }),
  ),
  blobs: Type.Optional(
    section({
      url: Type.Optional(Type.String({ minLength: 1 })),
      maxBytes: Type.Optional(Type.Integer({ minimum: 1 })),
      inlineMaxBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 16 * 1024 * 1024 })),
    }),
  ),
  retention: Type.Optional(
    section({
      ttl: Type.Optional(Duration),
      intervalMs: Type.Optional(Duration),
      blobGraceMs: Type.Optional(Duration),
    }),
  ),
  models: Type.Optional(section({ dir: Type.Optional(Type.String()) })),
  workers: Type.Optional(
    section({
      count: Type.Optional(Type.Integer({ minimum: 0 })),
      threads: Type.Optional(Type.Integer({ minimum: 1 })),
      /**
       * Fast-path requests (OIP infer, predict with durable: false) a model may hold waiting for
       * its workers; one more is refused with 503 and Retry-After (default 256).
       */
      fastQueueLimit: Type.Optional(Type.Integer({ minimum: 1 })),
      /**
       * `inferq worker`: serve the fast path to API hosts on other machines over ZeroMQ, bound
       * here (`tcp://0.0.0.0:5570`); `realtimeAdvertise` is the address they dial when the bound
       * one is not reachable as written.
       */
      realtimeBind: Type.Optional(Type.String({ pattern: '^tcp://' })),
      realtimeAdvertise: Type.Optional(Type.String({ pattern: '^tcp://' })),
    }),
  ),
  log: Type.Optional(
    section({
      level: Type.Optional(
        Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
        ),
      ),
    }),
  ),
});

export type RawConfig = Static<typeof ConfigSchema>;

/** The validated, defaulted, frozen configuration passed down to every layer. */
export interface Config {
  readonly dataDir: string;
  readonly server: {
    readonly host: string;
    readonly port: number;
    readonly bodyLimitBytes: number;
    readonly maxBufferedBytes: number;
    readonly maxBufferedBytesPerTenant: number;
  };
  readonly api: {
    readonly allowPrivateCallbacks: boolean;
    readonly tokenTtlMs: number;
    readonly rateLimitPerMinute: number;
    readonly maxQueuedTasks: number;
    /** Per-tenant storage quota in bytes; null for none (a tenant's own setting still applies). */
    readonly maxStoredBytes: number | null;
    readonly maxTasksPerRequest: number;
    readonly predictTimeoutMs: number;
    readonly maxWaitMs: number;
    readonly webhookMaxAttempts: number;
  };
  readonly store: { readonly url: string };
  readonly broker: { readonly url: string; readonly leaseMs: number; readonly reapIntervalMs: number };
  readonly blobs: { readonly url: string; readonly maxBytes: number; readonly inlineMaxBytes: number };
  readonly retention: { readonly ttlMs: number; readonly intervalMs: number; readonly blobGraceMs: number };
  readonly models: { readonly dir: string };
  readonly workers: {
    readonly count: number;
    readonly threads: number | undefined;
    readonly fastQueueLimit: number;
    readonly realtimeBind: string | undefined;
    readonly realtimeAdvertise: string | undefined;
  };
  readonly log: { readonly level: string };
}
