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
  /**
   * Whose migrations these are (default: `purpose`). Versions are tracked per component, so
   * several adapters (tasks, auth, worker registry) can share one database file.
   */
  component?: string;
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
    migrateSqlite(db, options.component ?? options.purpose, options.migrations);
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

/**
 * How long opening a database waits for another process's migration of it to finish. A migration
 * holds the write lock for as long as it runs, and one that moves many rows runs longer than a
 * connection's busy timeout (seconds): the second process (`inferq serve` and `inferq worker`
 * started together after an upgrade) then failed with a bare SQLITE_BUSY "database is locked".
 * It waits instead, as hosts wait on PostgreSQL's advisory lock, and then finds the version current.
 */
const migrationLockWaitMs = 30 * 60_000;

/**
 * Brings `component`'s schema in an open database up to date: for a component that joins a
 * database another one opened (the embedded broker in the task database, on its connection).
 */
export function migrateSqlite(db: SqliteDatabase, component: string, migrations: readonly string[]): void {
  const busyTimeoutMs = db.pragma('busy_timeout', { simple: true }) as number;
  db.pragma(`busy_timeout = ${migrationLockWaitMs}`);
  try {
    applyMigrations(db, component, migrations);
  } finally {
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  }
}

function applyMigrations(db: SqliteDatabase, component: string, migrations: readonly string[]): void {
  db.exec('CREATE TABLE IF NOT EXISTS inferq_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL)');
  const read = db.prepare<[string], { version: number }>(
    'SELECT version FROM inferq_schema WHERE component = ?',
  );
  const current = read.get(component)?.version ?? 0;
  if (current > migrations.length) {
    throw new InferqError(
      'INFERQ_DATABASE_CORRUPT',
      `database ${db.name} has ${component} schema version ${current}, newer than this inferq knows (${migrations.length}); upgrade inferq`,
      { details: { file: db.name, component, version: current } },
    );
  }
  const write = db.prepare(
    'INSERT INTO inferq_schema (component, version) VALUES (?, ?) ON CONFLICT (component) DO UPDATE SET version = excluded.version',
  );
  for (let version = current; version < migrations.length; version++) {
    db.transaction(() => {
      // Re-read inside the write transaction: another process may have migrated meanwhile.
      if ((read.get(component)?.version ?? 0) > version) return;
      db.exec(migrations[version]!);
      write.run(component, version + 1);
    }).immediate();
  }
}
