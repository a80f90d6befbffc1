/**
 * `inferq migrate` SIGKILLed in the middle of a migration that moves data, then run again: the
 * migration completes, every row is there once, and the version says so. The kill lands at a
 * known point inside the migration's transaction every time (test/fixtures/pause-migration.ts
 * stops the process there): after the data-moving script ran but before its version row was
 * written, and after the version row was written but before the commit. The database is built at
 * the version before by applying only the first migrations of the real list, then seeded.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { migratePg } from '../../src/postgres/migrate-pg.js';
import { openPgPool } from '../../src/postgres/open-pg-pool.js';
import { openSqlite } from '../../src/sqlite/open-sqlite.js';
import { pgTaskStoreMigrations } from '../../src/store/postgres/task-migrations.js';
import { taskStoreMigrations } from '../../src/store/sqlite/migrations.js';
import { freshSchema, postgresSkipReason, testPostgresUrl } from '../fixtures/pg-schema.js';

const root = path.resolve(import.meta.dirname, '../..');
/** Rows seeded before the migration: half running (the migration gives them a lease expiry). */
const rows = 20_000;
/** The statement of the data-moving migration (task store: the running tasks' lease expiry). */
const dataMigration = 'UPDATE tasks SET lease_expires_at';

interface Migrator {
  child: ChildProcess;
  output(): string;
  /** Resolves once the output matches (rejects if the process exits first). */
  waitFor(pattern: RegExp): Promise<void>;
  exited: Promise<number | null>;
}

/** `inferq migrate …` from source, with the pause hook preloaded and configured by `env`. */
function startMigrate(args: string[], env: Record<string, string> = {}): Migrator {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--import',
      './test/fixtures/pause-migration.ts',
      'test/fixtures/run-cli.ts',
      'migrate',
      ...args,
      '--log-level',
      'warn',
    ],
    { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env } },
  );
  let output = '';
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer) => {
    output += String(chunk);
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    waitFor: (pattern) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!pattern.test(output)) return;
          listeners.delete(check);
          resolve();
        };
        listeners.add(check);
        check();
        void exited.then(() => {
          if (listeners.delete(check)) reject(new Error(`migrate exited before ${pattern}:\n${output}`));
        });
      }),
  };
}

async function migrateToEnd(args: string[]): Promise<string> {
  const migrator = startMigrate(args);
  const code = await migrator.exited;
  expect(migrator.output()).not.toMatch(/error/i);
  expect(code).toBe(0);
  return migrator.output();
}

async function killMidMigration(args: string[], pauseAfter: string): Promise<void> {
  const migrator = startMigrate(args, { TEST_PAUSE_MIGRATION_AFTER: pauseAfter });
  await migrator.waitFor(/^PAUSED /m);
  migrator.child.kill('SIGKILL');
  expect(await migrator.exited).toBeNull();
}

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('SQLite data directory', () => {
  const lastVersion = taskStoreMigrations.length;

  /** A data dir whose task store is at the version before the last, with `rows` tasks. */
  async function oldDataDir(): Promise<{ dir: string; file: string }> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'inferq-interrupted-'));
    dirs.push(dir);
    const file = path.join(dir, 'inferq.db');
    const db = openSqlite(file, { purpose: 'task store', migrations: taskStoreMigrations.slice(0, -1) });
    db.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
       INSERT INTO tasks (id, request_id, owner, target_kind, target_name, target_version,
         input_sha256, input_size, input_media_type, params, params_hash, priority, state,
         attempts, max_attempts, cached, created_at, updated_at)
       SELECT printf('task-%06d', i), 'req', 'alice', 'model', 'resnet', '1', printf('%064d', i), 1,
         'image/png', '{"padding":"' || hex(randomblob(400)) || '"}', 'h', 0,
         CASE i % 2 WHEN 0 THEN 'running' ELSE 'queued' END, 1, 3, 0, i, 1000 * i
       FROM n`,
    ).run(rows);
    db.close();
    return { dir, file };
  }

  function inspect(file: string) {
    const db = new Database(file);
    try {
      return {
        check: db.pragma('integrity_check', { simple: true }),
        version: db.prepare("SELECT version FROM inferq_schema WHERE component = 'task store'").pluck().get(),
        hasLeaseColumn: db
          .prepare('SELECT count(*) FROM pragma_table_info(?) WHERE name = ?')
          .pluck()
          .get('tasks', 'lease_expires_at'),
        tasks: db
          .prepare('SELECT count(*) AS n, count(DISTINCT id) AS ids, sum(updated_at) AS sum FROM tasks')
          .get(),
      };
    } finally {
      db.close();
    }
  }

  it.each([
    ['after the data moved, before the version row', dataMigration],
    ['after the version row, before the commit', `"task store",${lastVersion}]`],
  ])(
    'a migrate killed %s leaves the old version intact; the next one completes it',
    async (_, pauseAfter) => {
      const { dir, file } = await oldDataDir();
      const before = inspect(file);
      expect(before).toMatchObject({
        check: 'ok',
        version: lastVersion - 1,
        hasLeaseColumn: 0,
        tasks: { n: rows },
      });

      await killMidMigration(['--data-dir', dir], pauseAfter);
      expect(inspect(file)).toEqual(before);

      const output = await migrateToEnd(['--data-dir', dir]);
      expect(output).toMatch(new RegExp(`task store\\s+version ${lastVersion}\\b`));
      expect(inspect(file)).toEqual({ ...before, version: lastVersion, hasLeaseColumn: 1 });
      const db = new Database(file, { readonly: true });
      const leases = db
        .prepare<[], { state: string; n: number; right: number }>(
          `SELECT state, count(*) AS n, sum(lease_expires_at IS updated_at + 30000) AS right
         FROM tasks GROUP BY state ORDER BY state`,
        )
        .all();
      const unset = db.prepare('SELECT count(*) FROM tasks WHERE lease_expires_at IS NULL').pluck().get();
      db.close();
      expect(leases).toEqual([
        { state: 'queued', n: rows / 2, right: 0 },
        { state: 'running', n: rows / 2, right: rows / 2 },
      ]);
      expect(unset).toBe(rows / 2);
    },
    120_000,
  );

  it('a second process opening the data dir mid-migration waits for it and finds it done', async () => {
    const { dir, file } = await oldDataDir();
    const first = startMigrate(['--data-dir', dir], { TEST_PAUSE_MIGRATION_AFTER: dataMigration });
    await first.waitFor(/^PAUSED /m);
    const second = startMigrate(['--data-dir', dir], {
      TEST_ANNOUNCE_BEFORE_SQL: 'inferq.db: BEGIN IMMEDIATE',
      TEST_REPORT_MIGRATION_SQL: dataMigration,
    });
    // The second now waits for the first's write lock. Past a connection's busy timeout (5 s,
    // open-sqlite.ts) it failed with SQLITE_BUSY "database is locked"; it must wait it out.
    await second.waitFor(/^STARTING /m);
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    expect(second.child.exitCode, second.output()).toBeNull();
    first.child.stdin!.write('\n');

    expect(await first.exited).toBe(0);
    expect(await second.exited, second.output()).toBe(0);
    for (const migrator of [first, second]) {
      expect(migrator.output()).toMatch(new RegExp(`task store\\s+version ${lastVersion}\\b`));
    }
    expect(second.output()).not.toContain(`RAN ${dataMigration}`);
    expect(inspect(file)).toMatchObject({
      version: lastVersion,
      hasLeaseColumn: 1,
      tasks: { n: rows, ids: rows },
    });
  }, 120_000);
});

if (!testPostgresUrl) console.warn(postgresSkipReason);
describe.skipIf(!testPostgresUrl)('PostgreSQL schema', () => {
  const lastVersion = pgTaskStoreMigrations.length;
  const advisoryKey = (schema: string) => `inferq:${schema}`;

  async function query<T extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<T[]> {
    const client = new pg.Client({ connectionString: testPostgresUrl! });
    await client.connect();
    try {
      return (await client.query<T>(sql, values)).rows;
    } finally {
      await client.end();
    }
  }

  /** A schema whose task store is at the version before the last, with `rows` tasks. */
  async function oldSchema(): Promise<{ schema: string; url: string; drop(): Promise<void> }> {
    const { schema, drop } = await freshSchema(testPostgresUrl!);
    const handle = openPgPool(testPostgresUrl!, { schema, purpose: 'test' });
    try {
      await migratePg(handle, 'tasks', pgTaskStoreMigrations.slice(0, -1));
      await handle.pool.query(
        `INSERT INTO tasks (id, request_id, owner, target_kind, target_name, target_version,
           input_sha256, input_size, input_media_type, params, params_hash, priority, state,
           attempts, max_attempts, cached, created_at, updated_at)
         SELECT format('task-%s', lpad(i::text, 6, '0')), 'req', 'alice', 'model', 'resnet', '1',
           lpad(i::text, 64, '0'), 1, 'image/png', '{"padding":"' || repeat(md5(i::text), 25) || '"}',
           'h', 0, CASE i % 2 WHEN 0 THEN 'running' ELSE 'queued' END, 1, 3, 0, i, 1000 * i
         FROM generate_series(1, $1) AS i`,
        [rows],
      );
    } finally {
      await handle.pool.end();
    }
    const url = new URL(testPostgresUrl!);
    url.searchParams.set('schema', schema);
    return { schema, url: url.toString(), drop };
  }

  async function inspect(schema: string) {
    const [version] = await query<{ version: number }>(
      `SELECT version FROM ${schema}.inferq_schema WHERE component = 'tasks'`,
    );
    const [column] = await query<{ n: number }>(
      `SELECT count(*)::int AS n FROM information_schema.columns
       WHERE table_schema = $1 AND table_name = 'tasks' AND column_name = 'lease_expires_at'`,
      [schema],
    );
    const [tasks] = await query(
      `SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids, sum(updated_at)::text AS sum FROM ${schema}.tasks`,
    );
    return { version: version?.version, hasLeaseColumn: column?.n, tasks };
  }

  async function expectLeasesMigrated(schema: string): Promise<void> {
    const leases = await query(
      `SELECT state, count(*)::int AS n,
         count(*) FILTER (WHERE lease_expires_at IS NOT DISTINCT FROM updated_at + 30000)::int AS right,
         count(*) FILTER (WHERE lease_expires_at IS NULL)::int AS unset
       FROM ${schema}.tasks GROUP BY state ORDER BY state`,
    );
    expect(leases).toEqual([
      { state: 'queued', n: rows / 2, right: 0, unset: rows / 2 },
      { state: 'running', n: rows / 2, right: rows / 2, unset: 0 },
    ]);
  }

  /** Sessions waiting for the schema's migration lock (migratePg's advisory lock). */
  async function waitingForLock(schema: string): Promise<number> {
    const [row] = await query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks, hashtextextended($1, 0) AS key
       WHERE locktype = 'advisory' AND NOT granted
         AND classid = ((key >> 32) & 4294967295)::oid AND objid = (key & 4294967295)::oid`,
      [advisoryKey(schema)],
    );
    return row!.n;
  }

  it.each([
    ['after the data moved, before the version row', dataMigration],
    ['after the version row, before the commit', `["tasks",${lastVersion},`],
  ])(
    'a migrate killed %s leaves the old version intact; the next one completes it',
    async (_, pauseAfter) => {
      const { schema, url, drop } = await oldSchema();
      const dir = await mkdtemp(path.join(os.tmpdir(), 'inferq-interrupted-'));
      dirs.push(dir);
      try {
        const before = await inspect(schema);
        expect(before).toMatchObject({
          version: lastVersion - 1,
          hasLeaseColumn: 0,
          tasks: { n: rows },
        });

        await killMidMigration(['--data-dir', dir, '--store', url], pauseAfter);
        expect(await inspect(schema)).toEqual(before);

        const output = await migrateToEnd(['--data-dir', dir, '--store', url]);
        expect(output).toMatch(new RegExp(`tasks\\s+version ${lastVersion}\\b`));
        expect(await inspect(schema)).toEqual({ ...before, version: lastVersion, hasLeaseColumn: 1 });
        await expectLeasesMigrated(schema);
      } finally {
        await drop();
      }
    },
    120_000,
  );

  it('two processes migrating one schema at once: one applies, the other waits and finds it done', async () => {
    const { schema, url, drop } = await oldSchema();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'inferq-interrupted-'));
    dirs.push(dir);
    try {
      const args = ['--data-dir', dir, '--store', url];
      const first = startMigrate(args, { TEST_PAUSE_MIGRATION_AFTER: dataMigration });
      await first.waitFor(/^PAUSED /m);
      // The first holds the lock mid-migration; the second must queue behind it.
      const second = startMigrate(args, { TEST_REPORT_MIGRATION_SQL: dataMigration });
      while ((await waitingForLock(schema)) === 0) {
        if (second.child.exitCode !== null) throw new Error(`second migrate exited:\n${second.output()}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(second.output()).not.toMatch(/schema up to date/);
      first.child.stdin!.write('\n');

      expect(await first.exited).toBe(0);
      expect(await second.exited).toBe(0);
      for (const migrator of [first, second]) {
        expect(migrator.output()).toMatch(new RegExp(`tasks\\s+version ${lastVersion}\\b`));
      }
      // The second applied nothing: it found the version current once it had the lock.
      expect(second.output()).not.toContain(`RAN ${dataMigration}`);
      expect(await inspect(schema)).toMatchObject({ version: lastVersion, tasks: { n: rows, ids: rows } });
      await expectLeasesMigrated(schema);
    } finally {
      await drop();
    }
  }, 120_000);
});
