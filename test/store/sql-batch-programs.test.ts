import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/core/hash.js';
import { newLeaseToken } from '../../src/core/ids.js';
import type { NewTask } from '../../src/core/task.js';
import { openPgPool } from '../../src/postgres/open-pg-pool.js';
import { openSqlite } from '../../src/sqlite/open-sqlite.js';
import { PgSqlDriver } from '../../src/store/postgres/pg-sql-driver.js';
import { PostgresTaskStore } from '../../src/store/postgres/postgres-task-store.js';
import { claimTasks } from '../../src/store/sql/claim-tasks.js';
import { settleTasks } from '../../src/store/sql/settle-tasks.js';
import type { SqlDriver, SqlProgram } from '../../src/store/sql/sql-driver.js';
import { taskStoreMigrations } from '../../src/store/sqlite/migrations.js';
import { SqliteSqlDriver } from '../../src/store/sqlite/sqlite-sql-driver.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import type { TaskStore } from '../../src/store/task-store.js';
import { freshSchema, postgresSkipReason, testPostgresUrl } from '../fixtures/pg-schema.js';

/** A store and a driver of the shared SQL programs over the same database. */
interface Setup {
  store: TaskStore;
  driver: SqlDriver;
  cleanup(): Promise<void>;
}

const setups: Record<string, (() => Promise<Setup>) | undefined> = {
  sqlite: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inferq-sql-batch-'));
    const file = join(dir, 'inferq.db');
    const store = SqliteTaskStore.open(file);
    const db = openSqlite(file, { purpose: 'task store', migrations: taskStoreMigrations });
    return {
      store,
      driver: new SqliteSqlDriver(() => db),
      async cleanup() {
        db.close();
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  postgres:
    testPostgresUrl === undefined
      ? undefined
      : async () => {
          const { schema, drop } = await freshSchema(testPostgresUrl!);
          const store = await PostgresTaskStore.open(testPostgresUrl!, { schema });
          const handle = openPgPool(testPostgresUrl!, { purpose: 'test', max: 1, schema });
          return {
            store,
            driver: new PgSqlDriver(() => handle.pool),
            async cleanup() {
              await handle.pool.end();
              await store.close();
              await drop();
            },
          };
        },
};

let counter = 0;
function draft(): NewTask {
  counter += 1;
  return {
    requestId: 'req',
    owner: 'alice',
    target: { kind: 'model', name: 'echo', version: '1' },
    input: { sha256: sha256Hex(`sql-batch-${counter}`), size: 1, mediaType: 'text/plain' },
  };
}

/** Runs `program` in one transaction; its result and the number of statements it sent. */
async function counted<T>(
  driver: SqlDriver,
  program: () => SqlProgram<T>,
): Promise<{ result: T; statements: number }> {
  let statements = 0;
  const result = await driver.tx(function* () {
    const inner = program();
    let next = inner.next();
    while (!next.done) {
      statements += 1;
      next = inner.next(yield next.value);
    }
    return next.value;
  });
  return { result, statements };
}

for (const [name, setup] of Object.entries(setups)) {
  describe.skipIf(setup === undefined)(
    setup === undefined ? postgresSkipReason : `shared SQL batch programs on ${name}`,
    () => {
      let s: Setup;
      beforeEach(async () => {
        s = await setup!();
      });
      afterEach(async () => {
        await s.cleanup();
      });

      /** Claims and settles `n` fresh tasks; the statements each took. */
      async function claimAndSettle(n: number): Promise<{ claim: number; settle: number }> {
        const tasks = await s.store.createTasks(Array.from({ length: n }, draft));
        const token = newLeaseToken();
        const d = s.driver.dialect;
        const claim = await counted(
          s.driver,
          claimTasks(
            d,
            tasks.map((t) => ({ id: t.id, leaseToken: token, workerId: 'w' })),
          ),
        );
        expect(claim.result.map((c) => c.claimed)).toEqual(tasks.map(() => true));
        const settle = await counted(
          s.driver,
          settleTasks(
            d,
            tasks.map((t, i) =>
              i % 2 === 0
                ? { id: t.id, outcome: 'succeeded' as const, leaseToken: token, result: i }
                : {
                    id: t.id,
                    outcome: 'failed' as const,
                    leaseToken: token,
                    error: { code: 'E', message: 'm' },
                    retry: i % 4 === 1,
                  },
            ),
          ),
        );
        expect(settle.result).toEqual(tasks.map(() => true));
        return { claim: claim.statements, settle: settle.statements };
      }

      it('claims and settles a batch of 32 in as many statements as a batch of 1', async () => {
        // A batch of two holds a success and a failure, like every larger one.
        const small = await claimAndSettle(2);
        const large = await claimAndSettle(32);
        expect(large).toEqual(small);
        expect(large).toEqual({ claim: 4, settle: 3 });
      });

      it('a batch naming one task twice: the first claim and settle win, the second sees their row', async () => {
        const [task] = await s.store.createTasks([draft()]);
        const [first, second] = [newLeaseToken(), newLeaseToken()];
        const at = task!.createdAt + 1;
        const claims = await s.store.claimTasks([
          { id: task!.id, leaseToken: first, workerId: 'w1', leaseMs: 1_000, at },
          { id: task!.id, leaseToken: second, workerId: 'w2', leaseMs: 1_000, at },
        ]);
        expect(claims).toMatchObject([
          { claimed: true, task: { state: 'running', attempts: 1, workerId: 'w1' } },
          { claimed: false, heldUntil: at + 1_000 },
        ]);
        const written = await s.store.settleTasks([
          { id: task!.id, outcome: 'succeeded', leaseToken: first, result: 'a' },
          { id: task!.id, outcome: 'succeeded', leaseToken: first, result: 'b' },
        ]);
        expect(written).toEqual([true, false]);
        const after = await s.store.getTask(task!.id);
        expect(after).toMatchObject({ state: 'succeeded', result: 'a', attempts: 1 });
        expect(after!.timeline.map((e) => e.stage)).toEqual(['created', 'queued', 'running', 'succeeded']);
      });
    },
  );
}
