import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/core/hash.js';
import { newLeaseToken } from '../../src/core/ids.js';
import { InferqError } from '../../src/errors/index.js';
import { SqliteSqlDriver } from '../../src/store/sqlite/sqlite-sql-driver.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import { activeSql } from '../../src/store/stats/task-activity.js';
import { countByTargetAndState, countRangeSql } from '../../src/store/stats/task-summary.js';
import { runFeedbackContract } from '../contracts/feedback.contract.js';
import { runIdempotencyKeysContract } from '../contracts/idempotency-keys.contract.js';
import { runTaskStatsContract } from '../contracts/task-stats.contract.js';
import { runTaskStoreContract } from '../contracts/task-store.contract.js';
import { runWebhookDeliveriesContract } from '../contracts/webhook-deliveries.contract.js';

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'inferq-task-store-'));
}

/** A fresh store in a file of its own; the same database plays every role's suite. */
async function openStore() {
  const dir = await tempDir();
  const store = SqliteTaskStore.open(path.join(dir, 'tasks.db'));
  const cleanup = async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  };
  return { store, cleanup };
}

runTaskStoreContract('SqliteTaskStore', openStore);
runWebhookDeliveriesContract('SqliteTaskStore', openStore);
runIdempotencyKeysContract('SqliteTaskStore', openStore);
runFeedbackContract('SqliteTaskStore', openStore);
runTaskStatsContract('SqliteTaskStore', openStore);

/**
 * The query plans (EXPLAIN QUERY PLAN, one string per statement) of the statements `run` makes
 * the store prepare, planned against `file` with every parameter (positional or named) bound to 'x'.
 */
async function plansOf(file: string, run: () => Promise<void>): Promise<string[]> {
  const sqls: string[] = [];
  const original = Database.prototype.prepare;
  Database.prototype.prepare = function (this: Database.Database, sql: string) {
    sqls.push(sql);
    return original.call(this, sql);
  } as typeof original;
  try {
    await run();
  } finally {
    Database.prototype.prepare = original;
  }
  const db = new Database(file, { readonly: true });
  try {
    return sqls.map((sql) => {
      // Positional (`?`) or named (`@name`, the shared statements of store/sql/) parameters.
      const names = [...new Set(sql.match(/@[A-Za-z_]\w*/g) ?? [])].map((name) => name.slice(1));
      const params =
        names.length > 0
          ? [Object.fromEntries(names.map((name) => [name, 'x']))]
          : Array.from({ length: (sql.match(/\?/g) ?? []).length }, () => 'x');
      const rows = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>;
      return rows.map((row) => row.detail).join('\n');
    });
  } finally {
    db.close();
  }
}

describe('SqliteTaskStore (SQLite specifics)', () => {
  const dirs: string[] = [];
  const newDir = async () => {
    const dir = await tempDir();
    dirs.push(dir);
    return dir;
  };
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  const draft = (i: number) => ({
    requestId: 'req',
    owner: 'alice',
    target: { kind: 'model' as const, name: 'resnet', version: '1' },
    input: { sha256: sha256Hex(`input-${i}`), size: 1, mediaType: 'image/png' },
    params: { i, padding: 'p'.repeat(2000) },
  });

  it('works in memory', async () => {
    const store = SqliteTaskStore.open(':memory:');
    const [task] = await store.createTasks([draft(1)]);
    expect((await store.getTask(task!.id))?.state).toBe('queued');
    await store.close();
  });

  it('migrates running tasks to a lease of 30 s from their last update', async () => {
    const file = path.join(await newDir(), 'tasks.db');
    const first = SqliteTaskStore.open(file);
    const [stale, fresh] = await first.createTasks([draft(1), draft(2)]);
    for (const task of [stale!, fresh!]) {
      await first.claimTask(task.id, { leaseToken: newLeaseToken(), workerId: 'old-worker' });
    }
    await first.close();
    // The file as the previous schema version left it: running rows, no lease expiry.
    const now = Date.now();
    const raw = new Database(file);
    raw.exec(`ALTER TABLE tasks DROP COLUMN lease_expires_at;
      UPDATE inferq_schema SET version = version - 1 WHERE component = 'task store'`);
    raw.prepare('UPDATE tasks SET updated_at = ? WHERE id = ?').run(now - 60_000, stale!.id);
    raw.prepare('UPDATE tasks SET updated_at = ? WHERE id = ?').run(now, fresh!.id);
    raw.close();

    const second = SqliteTaskStore.open(file);
    const at = now + 1;
    const takeOver = await second.claimTask(stale!.id, { leaseToken: newLeaseToken(), workerId: 'w', at });
    expect(takeOver).toMatchObject({ claimed: true, task: { attempts: 2, workerId: 'w' } });
    const held = await second.claimTask(fresh!.id, { leaseToken: newLeaseToken(), workerId: 'w', at });
    expect(held).toMatchObject({ claimed: false, heldUntil: now + 30_000 });
    await second.close();
  });

  it('keeps tasks, results and timelines across a reopen of the file', async () => {
    const file = path.join(await newDir(), 'tasks.db');
    const first = SqliteTaskStore.open(file);
    const [task] = await first.createTasks([draft(1)]);
    const token = newLeaseToken();
    await first.claimTask(task!.id, { leaseToken: token, workerId: 'w1' });
    await first.completeTask(task!.id, { leaseToken: token, result: { label: 'cat' } });
    const key = {
      owner: task!.owner,
      target: task!.target,
      inputSha256: task!.input.sha256,
      paramsHash: task!.paramsHash,
    };
    const before = await first.getTask(task!.id);
    await first.close();

    const second = SqliteTaskStore.open(file);
    expect(await second.getTask(task!.id)).toEqual(before);
    expect(before).toMatchObject({ state: 'succeeded', result: { label: 'cat' } });
    expect(await second.getCachedResult(key)).toEqual({ result: { label: 'cat' }, taskId: task!.id });
    await second.close();
  });

  it("reads only the tenant's index entries of an input (listing by input, the result cache)", async () => {
    const file = path.join(await newDir(), 'tasks.db');
    const store = SqliteTaskStore.open(file);
    const input = { sha256: sha256Hex('shared'), size: 1, mediaType: 'image/png' };
    await store.createTasks([
      { ...draft(1), input },
      { ...draft(2), input, owner: 'bob' },
    ]);
    // The statements the store prepares for these calls, planned against the same file.
    const plans = await plansOf(file, async () => {
      expect((await store.listTasks({ owner: 'alice', inputSha256: input.sha256 })).items).toHaveLength(1);
      await store.getCachedResult({
        owner: 'alice',
        target: draft(1).target,
        inputSha256: input.sha256,
        paramsHash: 'p',
      });
    });
    await store.close();
    expect(plans).toHaveLength(2);
    for (const plan of plans)
      expect(plan).toContain('USING INDEX tasks_input_owner_id (input_sha256=? AND owner=?)');
  });

  it("lists a tenant's tasks of a target off that tenant's index entries, with no sort", async () => {
    const file = path.join(await newDir(), 'tasks.db');
    const store = SqliteTaskStore.open(file);
    await store.createTasks([draft(1), { ...draft(2), owner: 'bob' }]);
    const plans = await plansOf(file, async () => {
      expect((await store.listTasks({ owner: 'alice', target: 'resnet' })).items).toHaveLength(1);
      expect((await store.listTasks({ owner: 'alice', target: 'resnet@1' })).items).toHaveLength(1);
      expect((await store.listTasks({ owner: 'carol', target: 'resnet' })).items).toHaveLength(0);
    });
    await store.close();
    expect(plans).toEqual([
      expect.stringContaining('USING INDEX tasks_owner_target_name_id (owner=? AND target_name=?)'),
      expect.stringContaining(
        'USING INDEX tasks_owner_target_id (owner=? AND target_name=? AND target_version=?)',
      ),
    ]);
    for (const plan of plans) expect(plan).not.toContain('TEMP B-TREE');
  });

  it('lists a time range newest first from the range, not from the newest task', async () => {
    const file = path.join(await newDir(), 'tasks.db');
    const store = SqliteTaskStore.open(file);
    const [task] = await store.createTasks([draft(1)]);
    const plans = await plansOf(file, async () => {
      const range = { owner: 'alice', createdFrom: task!.createdAt, createdTo: task!.createdAt + 1 };
      expect((await store.listTasks(range)).items.map((t) => t.id)).toEqual([task!.id]);
      expect((await store.listTasks({ ...range, createdTo: task!.createdAt })).items).toEqual([]);
    });
    await store.close();
    // The index walk starts at the id bound that createdTo implies (idUpperBound).
    expect(plans[0]).toContain('USING INDEX tasks_owner_id (owner=? AND id<?)');
  });

  it("a webhook poll with nothing due takes no write lock (it would queue behind the task writers')", async () => {
    const file = path.join(await newDir(), 'tasks.db');
    const store = SqliteTaskStore.open(file, { busyTimeoutMs: 50 });
    const [task] = await store.createTasks([{ ...draft(1), callbackUrl: 'https://example.test/hook' }]);
    const writer = new Database(file);
    writer.prepare('BEGIN IMMEDIATE').run();
    try {
      // Its task is still queued, so nothing is due: answered without waiting for the lock.
      expect(await store.dueWebhooks(Date.now(), 10, 60_000)).toEqual([]);
    } finally {
      writer.prepare('ROLLBACK').run();
      writer.close();
    }
    await store.cancelTask(task!.id);
    expect((await store.dueWebhooks(Date.now(), 10, 60_000)).map((t) => t.id)).toEqual([task!.id]);
    await store.close();
  });

  it('all-time counts read id ranges off (owner, id) or the primary key, yielding between them', async () => {
    const file = path.join(await newDir(), 'tasks.db');
    const store = SqliteTaskStore.open(file);
    const drafts = Array.from({ length: 53 }, (_, i) => ({
      ...draft(i),
      owner: i % 3 === 0 ? 'bob' : 'alice',
      target: { kind: 'model' as const, name: i % 2 === 0 ? 'resnet' : 'bert', version: '1' },
    }));
    const tasks = await store.createTasks(drafts);
    for (const task of tasks.filter((_, i) => i % 5 === 0)) await store.cancelTask(task.id);
    await store.close();

    const db = new Database(file);
    const expected = (owner?: string) =>
      db
        .prepare(
          `SELECT target_name || '@' || target_version AS target, state, COUNT(*) AS n FROM tasks
           ${owner === undefined ? '' : 'WHERE owner = @owner'} GROUP BY 1, 2 ORDER BY 1, 2`,
        )
        .all(owner === undefined ? {} : { owner });
    const sorted = (rows: Array<{ target: string; state: string; n: number }>) =>
      [...rows].sort((a, b) => `${a.target} ${a.state}`.localeCompare(`${b.target} ${b.state}`));
    for (const owner of ['alice', 'bob', undefined]) {
      // Ranges of 7: several, the last one short; every task counted once.
      let yielded = false;
      setImmediate(() => {
        yielded = true;
      });
      const counted = await countByTargetAndState(new SqliteSqlDriver(() => db), owner, 7);
      expect(sorted(counted)).toEqual(expected(owner));
      expect(yielded, 'the event loop ran between ranges').toBe(true);
    }
    const plan = (byOwner: boolean, bounded: boolean) =>
      (
        db.prepare(`EXPLAIN QUERY PLAN ${countRangeSql(byOwner, bounded)}`).all({
          chunk: 7,
          ...(byOwner ? { owner: 'a' } : {}),
          ...(bounded ? { before: 'x' } : {}),
        }) as Array<{
          detail: string;
        }>
      )
        .map((r) => r.detail)
        .join('\n');
    expect(plan(true, true)).toContain('USING INDEX tasks_owner_id (owner=? AND id<?)');
    expect(plan(true, false)).toContain('USING INDEX tasks_owner_id (owner=?)');
    expect(plan(false, true)).toMatch(/USING INDEX sqlite_autoindex_tasks_1 \(id<\?\)/);
    // The range is read in index order: only the GROUP BY over its rows may sort.
    for (const [o, b] of [
      [true, true],
      [false, true],
    ] as const)
      expect(plan(o, b).match(/TEMP B-TREE/g) ?? []).toHaveLength(1);
    db.close();
  });

  it("counts a tenant's backlog off its unfinished entries, not every task it owns", async () => {
    const file = path.join(await newDir(), 'tasks.db');
    await SqliteTaskStore.open(file).close();
    const db = new Database(file, { readonly: true });
    const plan = (sql: string, params: Record<string, string>) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as Array<{ detail: string }>)
        .map((r) => r.detail)
        .join('\n');
    expect(plan(activeSql(true), { owner: 'alice' })).toContain(
      'USING INDEX tasks_owner_state_id (owner=? AND state=?)',
    );
    expect(plan(activeSql(false), {})).toContain('USING INDEX tasks_state_id (state=?)');
    db.close();
  });

  async function expectRefusedUntouched(file: string): Promise<void> {
    const bytes = await readFile(file);
    let error: unknown;
    try {
      SqliteTaskStore.open(file).close();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InferqError);
    expect((error as InferqError).code).toBe('INFERQ_DATABASE_CORRUPT');
    const message = (error as InferqError).message;
    expect(message).toContain(path.resolve(file));
    expect(message).toContain('task store');
    expect(message).toMatch(/restore .*backup|move it aside/i);
    expect((await readFile(file)).equals(bytes)).toBe(true);
  }

  it('refuses a file of random bytes and leaves it untouched', async () => {
    const file = path.join(await newDir(), 'tasks.db');
    await writeFile(file, randomBytes(64 * 1024));
    await expectRefusedUntouched(file);
  });

  it('refuses a truncated database and leaves it untouched', async () => {
    const dir = await newDir();
    const good = path.join(dir, 'good.db');
    const store = SqliteTaskStore.open(good);
    await store.createTasks(Array.from({ length: 300 }, (_, i) => draft(i)));
    await store.close();
    const bytes = await readFile(good);
    expect(bytes.length).toBeGreaterThan(64 * 4096);
    const truncated = path.join(dir, 'truncated.db');
    await writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 3)));
    await expectRefusedUntouched(truncated);
  });
});
