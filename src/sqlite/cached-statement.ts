import type { Statement } from 'better-sqlite3';
import type { SqliteDatabase } from './open-sqlite.js';

const statements = new WeakMap<SqliteDatabase, Map<string, Statement>>();

/**
 * The prepared statement for `text` on `db`, compiled once per database: hot paths (every
 * request authenticates, every task is written and read) must not recompile their SQL, and the
 * texts in use (fixed statements, a bounded set of listing filters) are few.
 */
export function cachedStatement(db: SqliteDatabase, text: string): Statement {
  let cache = statements.get(db);
  if (cache === undefined) {
    cache = new Map();
    statements.set(db, cache);
  }
  let statement = cache.get(text);
  if (statement === undefined) {
    statement = db.prepare(text);
    cache.set(text, statement);
  }
  return statement;
}
