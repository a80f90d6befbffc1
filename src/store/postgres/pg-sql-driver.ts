import type pg from 'pg';
import { inTransaction } from '../../postgres/open-pg-pool.js';
import { postgresDialect, type SqlDialect } from '../sql/sql-dialect.js';
import {
  runProgram,
  type SqlDriver,
  type SqlParams,
  type SqlProgram,
  type SqlStep,
} from '../sql/sql-driver.js';

/** A pool or a client inside a transaction: anything that runs a query. */
export type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/**
 * The shared SQL state machine's driver over pg. A statement outside a transaction is one pool
 * query; a transaction is one client between BEGIN and COMMIT (inTransaction, which runs the
 * whole program again on a fresh connection when the connection dropped before COMMIT).
 */
export class PgSqlDriver implements SqlDriver {
  readonly dialect: SqlDialect = postgresDialect;

  /** `pool` is asked for on every statement: the store's getter refuses once it is closed. */
  constructor(private readonly pool: () => pg.Pool) {}

  async all<R>(sql: string, params: SqlParams = {}): Promise<R[]> {
    return (await execute(this.pool(), { op: 'all', sql, params })) as R[];
  }

  async one<R>(sql: string, params: SqlParams = {}): Promise<R | undefined> {
    return (await execute(this.pool(), { op: 'one', sql, params })) as R | undefined;
  }

  async run(sql: string, params: SqlParams = {}): Promise<number> {
    return (await execute(this.pool(), { op: 'run', sql, params })) as number;
  }

  async tx<T>(program: () => SqlProgram<T>): Promise<T> {
    return inTransaction(this.pool(), (client) => runProgram(program(), (step) => execute(client, step)));
  }

  async read<T>(program: () => SqlProgram<T>): Promise<T> {
    return inTransaction(this.pool(), async (client) => {
      await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
      return runProgram(program(), (step) => execute(client, step));
    });
  }
}

async function execute(q: Queryable, step: SqlStep): Promise<unknown> {
  const { text, values } = bindNamed(step.sql, step.params);
  const result = await q.query(text, values);
  switch (step.op) {
    case 'all':
      return result.rows;
    case 'one':
      return result.rows[0];
    case 'run':
      return result.rowCount ?? 0;
  }
}

/**
 * A statement written with `@name` parameters as PostgreSQL's numbered ones: each name becomes
 * `$n` and its value the n-th of `values`.
 */
export function bindNamed(sql: string, params: SqlParams): { text: string; values: unknown[] } {
  const numbers = new Map<string, number>();
  const values: unknown[] = [];
  const text = sql.replace(/@([A-Za-z_][A-Za-z0-9_]*)/g, (_, name: string) => {
    let n = numbers.get(name);
    if (n === undefined) {
      if (!(name in params)) throw new Error(`no value for parameter @${name}`);
      values.push(params[name]);
      n = values.length;
      numbers.set(name, n);
    }
    return `$${n}`;
  });
  return { text, values };
}
