import pg from 'pg';
import { InferqError } from '../errors/index.js';

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
  const pool = new pg.Pool({
    connectionString: parsed.toString(),
    max: options.max ?? 5,
    options: `-c search_path=${schema}`,
    types,
    // A dead server must surface as an error, not a request hanging forever.
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection (server restart) emits on the pool; without a listener
  // that would crash the process. The next query opens a fresh connection.
  pool.on('error', () => {});
  return { pool, schema };
}

/** Runs `body` in one transaction on one client, rolling back on any error. */
export async function inTransaction<T>(
  pool: pg.Pool,
  body: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await body(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/** The SQLSTATE of a PostgreSQL error (`23505` unique violation…), if it is one. */
export function pgErrorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
