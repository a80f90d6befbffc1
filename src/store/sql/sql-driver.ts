import type { SqlDialect } from './sql-dialect.js';

/**
 * The tiny interface the shared SQL state machine (this folder) runs over, in the spirit of
 * pg-boss's `IDatabase { executeSql }`: `one`, `all`, `run` and `tx`, implemented over
 * better-sqlite3 (store/sqlite/sqlite-sql-driver.ts) and pg (store/postgres/pg-sql-driver.ts).
 *
 * Statements name their parameters `@name` (better-sqlite3 binds them as they are; the pg driver
 * numbers them). Where the two databases write a thing differently, the statement asks its
 * {@link SqlDialect} for the fragment.
 *
 * A transaction is a {@link SqlProgram}: a generator that yields its statements one at a time and
 * receives each one's answer. better-sqlite3 cannot hold a transaction open across an `await`
 * (another caller's statement would run inside it), so its driver runs the program synchronously
 * inside one `BEGIN IMMEDIATE`; the pg driver awaits each statement on one client between BEGIN
 * and COMMIT. The same code, one algorithm, two executors. `tx` takes a factory, not a program:
 * the pg driver runs a transaction again when its connection dropped before COMMIT.
 */
export interface SqlDriver {
  readonly dialect: SqlDialect;
  /** Every row of one statement. */
  all<R>(sql: string, params?: SqlParams): Promise<R[]>;
  /** The first row of one statement, or undefined. */
  one<R>(sql: string, params?: SqlParams): Promise<R | undefined>;
  /** Runs one statement; the number of rows it changed. */
  run(sql: string, params?: SqlParams): Promise<number>;
  /** Runs a program in one write transaction; its return value. */
  tx<T>(program: () => SqlProgram<T>): Promise<T>;
  /** Runs a read-only program in one snapshot (a task and its timeline that agree). */
  read<T>(program: () => SqlProgram<T>): Promise<T>;
}

export type SqlParams = Record<string, unknown>;

/** One statement a program asks its driver to run. */
export interface SqlStep {
  op: 'all' | 'one' | 'run';
  sql: string;
  params: SqlParams;
}

/** A transaction's body: yields statements, receives their answers, returns its result. */
export type SqlProgram<T> = Generator<SqlStep, T, unknown>;

/** Inside a program: `const rows = yield* all<Row>(sql, params)`. */
export function* all<R>(sql: string, params: SqlParams = {}): SqlProgram<R[]> {
  return (yield { op: 'all', sql, params }) as R[];
}

/** Inside a program: the first row, or undefined. */
export function* one<R>(sql: string, params: SqlParams = {}): SqlProgram<R | undefined> {
  return (yield { op: 'one', sql, params }) as R | undefined;
}

/** Inside a program: the number of rows changed. */
export function* run(sql: string, params: SqlParams = {}): SqlProgram<number> {
  return (yield { op: 'run', sql, params }) as number;
}

/** Runs a program with a synchronous executor (better-sqlite3); its result. */
export function runProgramSync<T>(program: SqlProgram<T>, execute: (step: SqlStep) => unknown): T {
  let next = program.next();
  while (!next.done) next = program.next(execute(next.value));
  return next.value;
}

/** Runs a program with an asynchronous executor (pg); its result. */
export async function runProgram<T>(
  program: SqlProgram<T>,
  execute: (step: SqlStep) => Promise<unknown>,
): Promise<T> {
  let next = program.next();
  while (!next.done) next = program.next(await execute(next.value));
  return next.value;
}
