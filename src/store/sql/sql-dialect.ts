/**
 * Where SQLite and PostgreSQL write the same thing differently: each difference is a named
 * fragment here, never a second copy of a statement. What both write alike is written plainly in
 * the statements: `RETURNING`, `UPDATE … FROM`, the upsert `INSERT … ON CONFLICT (…) DO UPDATE SET
 * x = excluded.x` (SQLite needs a `WHERE true` after an `INSERT … SELECT` before `ON CONFLICT`,
 * which PostgreSQL accepts too), and the time: `at` is always a parameter (ms, the caller's
 * clock, so a test can pass it), never the database's `now()`.
 *
 * Placeholders are `@name` in every statement; the pg driver numbers them (`$n`).
 */
export interface SqlDialect {
  readonly name: 'sqlite' | 'postgres';
  /** Equality that holds for two NULLs (`IS` in SQLite, `IS NOT DISTINCT FROM` in PostgreSQL). */
  same(left: string, right: string): string;
  /** The larger of two values (`MAX(a, b)` in SQLite, `GREATEST(a, b)` in PostgreSQL). */
  max(left: string, right: string): string;
  /**
   * Appended to a read that a write of the same transaction depends on: PostgreSQL locks the rows
   * (`FOR UPDATE`); SQLite's `BEGIN IMMEDIATE` already holds the database's write lock.
   */
  readonly lockRows: string;
  /**
   * Appended to a read in a write transaction that claims rows of table `alias` (due webhook
   * deliveries): PostgreSQL locks them and skips those another transaction holds (`FOR UPDATE OF
   * alias SKIP LOCKED`), so hosts claiming together take disjoint rows; SQLite's `BEGIN
   * IMMEDIATE` already serialises the claims.
   */
  skipLocked(alias: string): string;
  /**
   * Names the index a read must use: SQLite's `INDEXED BY` (its planner has no statistics unless
   * ANALYZE ran); nothing on PostgreSQL, whose planner has them (a materialised CTE steers it).
   */
  indexedBy(index: string): string;
  /**
   * `term` (a column) with no index offered to the planner for it: SQLite's unary `+`, which
   * keeps its planner on the index the statement is written for (the `finished_at` range of a
   * stats window) rather than one on an owner or a state, which looks selective to it though one
   * tenant may own every row; PostgreSQL's planner has statistics, and the term stays as it is.
   */
  unindexed(term: string): string;
  /**
   * The number at `key` of JSON text `column` (a timeline entry's data), or NULL: SQLite's
   * `json_extract`, PostgreSQL's `->>` cast to float8.
   */
  jsonNumber(column: string, key: string): string;
  /**
   * `column` is one of the values of list parameter `@name` (see {@link listParam}): SQLite reads
   * a JSON array with `json_each`, PostgreSQL an array parameter with `= ANY`.
   */
  inList(column: string, name: string, type?: SqlType): string;
  /** The parameters of {@link inList}. */
  listParam(name: string, values: readonly unknown[]): Record<string, unknown>;
  /**
   * A relation `alias(col…, n)` of many rows from parameters: SQLite unpacks one JSON array of
   * arrays with `json_each`, PostgreSQL zips one array parameter per column with `unnest … WITH
   * ORDINALITY`. `n` numbers the rows in the order given (for `ORDER BY n`). The statement text
   * is the same whatever the number of rows, and no parameter limit is ever near.
   */
  rows(alias: string, columns: SqlColumns): string;
  /** The parameters of {@link rows}: each row's values in the order of `columns`. */
  rowsParam(
    alias: string,
    columns: SqlColumns,
    rows: ReadonlyArray<readonly unknown[]>,
  ): Record<string, unknown>;
}

export type SqlType = 'text' | 'bigint' | 'integer';

/** Column names and their types, in order. */
export type SqlColumns = ReadonlyArray<readonly [name: string, type: SqlType]>;

export const sqliteDialect: SqlDialect = {
  name: 'sqlite',
  same: (left, right) => `${left} IS ${right}`,
  max: (left, right) => `MAX(${left}, ${right})`,
  lockRows: '',
  skipLocked: () => '',
  indexedBy: (index) => `INDEXED BY ${index}`,
  unindexed: (term) => `+${term}`,
  jsonNumber: (column, key) => `json_extract(${column}, '$.${key}')`,
  inList: (column, name) => `${column} IN (SELECT value FROM json_each(@${name}))`,
  listParam: (name, values) => ({ [name]: JSON.stringify(values) }),
  rows: (alias, columns) =>
    `(SELECT ${columns.map(([c], i) => `json_extract(value, '$[${i}]') AS ${c}`).join(', ')}, key AS n
      FROM json_each(@${alias})) AS ${alias}`,
  rowsParam: (alias, _columns, rows) => ({ [alias]: JSON.stringify(rows) }),
};

export const postgresDialect: SqlDialect = {
  name: 'postgres',
  same: (left, right) => `${left} IS NOT DISTINCT FROM ${right}`,
  max: (left, right) => `GREATEST(${left}, ${right})`,
  // Two workers that received the same job serialise on the row; the loser reads the winner's token.
  lockRows: 'FOR UPDATE',
  skipLocked: (alias) => `FOR UPDATE OF ${alias} SKIP LOCKED`,
  indexedBy: () => '',
  unindexed: (term) => term,
  jsonNumber: (column, key) => `(${column}::json ->> '${key}')::float8`,
  inList: (column, name, type = 'text') => `${column} = ANY(@${name}::${type}[])`,
  listParam: (name, values) => ({ [name]: values }),
  rows: (alias, columns) =>
    `unnest(${columns.map(([, type], i) => `@${alias}_${i}::${type}[]`).join(', ')}) WITH ORDINALITY
      AS ${alias}(${columns.map(([c]) => c).join(', ')}, n)`,
  rowsParam: (alias, columns, rows) =>
    Object.fromEntries(columns.map((_, i) => [`${alias}_${i}`, rows.map((row) => row[i] ?? null)])),
};
