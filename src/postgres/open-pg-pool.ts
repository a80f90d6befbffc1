import pg from 'pg';
import { InferqError } from '../errors/index.js';
import { isPgConnectionError, retryOnConnectionError } from './pg-retry.js';

/** A pool of PostgreSQL connections, all with `search_path` set to one schema. */
export interface PgHandle {
  pool: pg.Pool;
  /** The schema every query of this pool resolves unqualified names in. */
  schema: string;
}

export interface OpenPgPoolOptions {
  /** Overrides the `?schema=` of the URL; default `public`. */
  schema?: string;
  /** Connections at most. Small by default: many hosts × several pools share `max_connections`. */
  max?: number;
  /** What the pool serves, for error messages ("task store", "blob store"). */
  purpose: string;
  /**
   * How long a connect (and a transaction of {@link inTransaction}) keeps trying while the
   * server refuses or drops connections, e.g. during a restart. Default 20 s.
   */
  retryMs?: number;
}

/** Default of {@link OpenPgPoolOptions.retryMs}. */
export const defaultPgRetryMs = 20_000;

/**
 * A pool whose `connect` (which `query` uses too) rides out a server restart: a refused or
 * dropped connection attempt is tried again, backing off, for `retryMs`. Nothing of a statement
 * has reached the server at that point, so this is always safe. Statements cut mid-flight are
 * not retried here (their effect is unknown); whole transactions are, by {@link inTransaction}.
 */
class RetryingPool extends pg.Pool {
  constructor(
    config: pg.PoolConfig,
    readonly retryMs: number,
  ) {
    super(config);
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(
    callback: (
      err: Error | undefined,
      client: pg.PoolClient | undefined,
      done: (release?: unknown) => void,
    ) => void,
  ): void;
  override connect(
    callback?: (
      err: Error | undefined,
      client: pg.PoolClient | undefined,
      done: (release?: unknown) => void,
    ) => void,
  ): Promise<pg.PoolClient> | undefined {
    const connected = retryOnConnectionError(
      () => super.connect(),
      this.retryMs,
      () => this.ending,
    );
    if (callback === undefined) return connected;
    connected.then(
      (client) => callback(undefined, client, (release) => client.release(release as Error | undefined)),
      (err: Error) => callback(err, undefined, () => {}),
    );
    return undefined;
  }
}

const schemaPattern = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * int8 (BIGINT: timestamps in ms, counts) as a JS number instead of pg's default string: every
 * value inferq stores fits in 2^53 (ms since epoch until the year 287,396). Per pool, never global.
 */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20 && format !== 'binary') return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/** Schema names are spliced into SQL (`SET search_path`), so only plain identifiers pass. */
export function assertSchemaName(schema: string): string {
  if (!schemaPattern.test(schema)) {
    throw new InferqError(
      'INFERQ_CONFIG_INVALID',
      `PostgreSQL schema "${schema}" must be a lower-case identifier (a-z, 0-9, _; at most 63)`,
      { details: { schema } },
    );
  }
  return schema;
}

/**
 * Opens a pool for `url` (`postgres://user:pass@host:port/db?schema=name`). The `schema` query
 * parameter is ours, not libpq's: it is taken off the URL and applied as the connection's
 * `search_path`, so one database can hold several inferq deployments (and every test its own).
 */
export function openPgPool(url: string, options: OpenPgPoolOptions): PgHandle {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new InferqError('INFERQ_CONFIG_INVALID', `the ${options.purpose} URL is not a valid URL`, {
      cause,
    });
  }
  const schema = assertSchemaName(options.schema ?? parsed.searchParams.get('schema') ?? 'public');
  parsed.searchParams.delete('schema');
  const pool = new RetryingPool(
    {
      connectionString: parsed.toString(),
      max: options.max ?? 5,
      options: `-c search_path=${schema}`,
      types,
      // A dead server must surface as an error, not a request hanging forever.
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
    },
    options.retryMs ?? defaultPgRetryMs,
  );
  // An idle client losing its connection (server restart) emits on the pool; without a listener
  // that would crash the process. The next query opens a fresh connection.
  pool.on('error', () => {});
  // A checked-out client between two statements (a transaction, a blob upload reading its
  // stream) has no listener of its own: the server's "terminating connection" on a restart
  // would be an unhandled 'error' event and kill the process. Ignored here (once per physical
  // connection), it surfaces as the next statement's connection error ("not queryable"), which
  // callers handle.
  pool.on('connect', (client) => client.on('error', () => {}));
  return { pool, schema };
}

/**
 * Runs `body` in one transaction on one client, rolling back on any error.
 *
 * When the connection is lost before COMMIT is sent (a server restart, a failover), PostgreSQL
 * has rolled the transaction back, so the whole transaction runs again on a fresh connection,
 * for as long as the pool's `retryMs` (default 20 s): a worker's claim or settle waits out a
 * short outage (its broker leases are renewed meanwhile) instead of failing and having its jobs
 * redelivered. `body` must therefore be safe to run again (it is: it only talks to `client`).
 * A connection lost during COMMIT is not retried: whether it committed is unknown, and the
 * caller's conditional transitions decide on the next delivery.
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  body: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const retryMs = pool instanceof RetryingPool ? pool.retryMs : 0;
  return retryOnConnectionError(
    async () => {
      const client = await pool.connect();
      let committing = false;
      let failure: unknown;
      try {
        await client.query('BEGIN');
        const result = await body(client);
        committing = true;
        await client.query('COMMIT');
        return result;
      } catch (err) {
        failure = err;
        if (!isPgConnectionError(err)) await client.query('ROLLBACK').catch(() => {});
        if (committing && isPgConnectionError(err)) throw new CommitOutcomeUnknown(err);
        throw err;
      } finally {
        // A broken connection goes, not back to the pool.
        client.release(isPgConnectionError(failure) ? (failure as Error) : undefined);
      }
    },
    retryMs,
    () => pool.ending,
  ).catch((err: unknown) => {
    throw err instanceof CommitOutcomeUnknown ? err.cause : err;
  });
}

/** A connection lost during COMMIT: wrapped so that the retry loop does not run the transaction again. */
class CommitOutcomeUnknown extends Error {
  constructor(override readonly cause: unknown) {
    super('connection lost during COMMIT');
  }
}

/** The SQLSTATE of a PostgreSQL error (`23505` unique violation…), if it is one. */
export function pgErrorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
