import { closeSync, existsSync, mkdirSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { InferqError } from '../errors/index.js';

export type SqliteDatabase = Database.Database;

export interface OpenSqliteOptions {
  /** What the file holds, for error messages ("task store", "queue"). */
  purpose: string;
  /** Migrations, applied in order inside one transaction each; index + 1 is the schema version. */
  migrations: readonly string[];
  busyTimeoutMs?: number;
}

const sqliteHeader = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * Opens (creating if needed) a SQLite database in WAL mode and brings its schema up to date.
 * A file that is not a SQLite database, or fails the quick integrity check, is refused with an
 * error naming the file and what to do: never silently recreated (that would lose data).
 */
export function openSqlite(file: string, options: OpenSqliteOptions): SqliteDatabase {
  const inMemory = file === ':memory:';
  if (!inMemory) {
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    assertLooksLikeSqlite(file, options.purpose);
  }
  let db: SqliteDatabase | undefined;
  try {
    db = new Database(file);
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5_000}`);
    if (!inMemory) db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a committed transaction survives a process crash; an OS crash may
    // lose the last transactions but never corrupts the file.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new Error(`quick_check: ${String(check)}`);
  } catch (cause) {
    db?.close();
    if (cause instanceof InferqError) throw cause;
    throw corrupt(file, options.purpose, cause);
  }
  try {
    migrate(db, options.migrations);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

function assertLooksLikeSqlite(file: string, purpose: string): void {
  if (!existsSync(file)) return;
  const fd = openSync(file, 'r');
  try {
    const header = Buffer.alloc(sqliteHeader.length);
    const read = readSync(fd, header, 0, header.length, 0);
    if (read === 0) return; // an empty file is a new database
    if (read < header.length || !header.equals(sqliteHeader)) {
      throw corrupt(file, purpose, new Error('file does not start with the SQLite header'));
    }
  } finally {
    closeSync(fd);
  }
}

function corrupt(file: string, purpose: string, cause: unknown): InferqError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new InferqError(
    'INFERQ_DATABASE_CORRUPT',
    `the ${purpose} database ${path.resolve(file)} is corrupt or not a SQLite database (${reason}). ` +
      'inferq will not overwrite it. Restore it from a backup, or move it aside to start empty ' +
      `(e.g. mv ${file} ${file}.corrupt), then start again.`,
    { cause, details: { file: path.resolve(file), purpose } },
  );
}

function migrate(db: SqliteDatabase, migrations: readonly string[]): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length) {
    throw new InferqError(
      'INFERQ_DATABASE_CORRUPT',
      `database ${db.name} has schema version ${current}, newer than this inferq knows (${migrations.length}); upgrade inferq`,
      { details: { file: db.name, version: current } },
    );
  }
  for (let version = current; version < migrations.length; version++) {
    db.transaction(() => {
      db.exec(migrations[version]!);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}
