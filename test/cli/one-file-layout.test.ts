import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { type Backends, openBackends } from '../../src/cli/open-backends.js';
import { openStoreWithQueue } from '../../src/cli/open-embedded.js';
import { loadConfig } from '../../src/config/load-config.js';
import { sha256Hex } from '../../src/core/hash.js';
import type { NewTask } from '../../src/core/task.js';
import { taskJob } from '../../src/core/task-job.js';
import { isInferqError } from '../../src/errors/index.js';
import { SqliteBroker } from '../../src/queue/sqlite/sqlite-broker.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import { runBrokerContract } from '../contracts/broker.contract.js';
import { runTaskStoreContract } from '../contracts/task-store.contract.js';
import { expectChildTasksWrittenWithJobs } from '../fixtures/child-task-jobs.js';

const queue = 'echo@1.0.0';
let counter = 0;
function draft(overrides: Partial<NewTask> = {}): NewTask {
  counter += 1;
  return {
    requestId: `req-${counter}`,
    owner: 'alice',
    target: { kind: 'model', name: 'echo', version: '1.0.0' },
    input: { sha256: sha256Hex(`input-${counter}`), size: 10, mediaType: 'text/plain' },
    ...overrides,
  };
}

// The broker in the task database keeps every promise of the broker contract.
runBrokerContract('SqliteBroker in the task database', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'inferq-onefile-contract-'));
  const file = path.join(dir, 'inferq.db');
  const pair = openStoreWithQueue(file, { pollIntervalMs: 20 });
  const reopened: Array<ReturnType<typeof openStoreWithQueue>> = [];
  return {
    broker: pair.broker,
    reopen: async () => {
      const again = openStoreWithQueue(file, { pollIntervalMs: 20 });
      reopened.push(again);
      return again.broker;
    },
    cleanup: async () => {
      await pair.broker.close();
      await pair.store.close();
      for (const again of reopened) await again.store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

// And the store that writes the jobs keeps every promise of the task store contract.
runTaskStoreContract('SqliteTaskStore with the queue in its file', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'inferq-onefile-store-'));
  const { store, broker } = openStoreWithQueue(path.join(dir, 'inferq.db'));
  return {
    store,
    cleanup: async () => {
      await broker.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

const dirs: string[] = [];
const opened: Backends[] = [];
afterEach(async () => {
  for (const backends of opened.splice(0)) await backends.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'inferq-onefile-'));
  dirs.push(dir);
  return dir;
}

async function openDefault(dir: string): Promise<Backends> {
  const backends = await openBackends(loadConfig({ cwd: dir, env: {}, overrides: { dataDir: dir } }));
  opened.push(backends);
  return backends;
}

describe('embedded layout: tasks and queue in one SQLite file', () => {
  it('creates no queue.db, and a created task is leasable with no enqueue call', async () => {
    const dir = dataDir();
    const backends = await openDefault(dir);
    expect(backends.jobsWrittenByStore).toBe(true);
    backends.broker.enqueueMany = () => Promise.reject(new Error('the store writes the jobs'));
    const [task] = await backends.store.createTasks([draft({ priority: 4 })]);
    const [job] = await backends.broker.lease(queue, { max: 5, leaseMs: 10_000 });
    expect(job).toMatchObject({ id: task!.id, payload: { taskId: task!.id }, priority: 4 });
    expect(readdirSync(dir).filter((name) => name.startsWith('queue.db'))).toEqual([]);
  });

  it("writes a pipeline step's child tasks with their jobs, once", async () => {
    const backends = await openDefault(dataDir());
    await expectChildTasksWrittenWithJobs(backends, draft, queue);
  });

  it('rolls the task back when its job cannot be written', async () => {
    const backends = await openDefault(dataDir());
    await backends.broker.close();
    const created = backends.store.createTasks([draft({ id: '0190a4e0-0000-7000-8000-000000000001' })]);
    await expect(created).rejects.toSatisfy((err) => isInferqError(err, 'INFERQ_BROKER_UNAVAILABLE'));
    expect(await backends.store.getTask('0190a4e0-0000-7000-8000-000000000001')).toBeUndefined();
  });

  it("writes each job with its owner's weight, and none for a task answered from the cache", async () => {
    const dir = dataDir();
    const backends = await openDefault(dir);
    const [queued, cached] = await backends.store.createTasks(
      [draft({ owner: 'bob', priority: 2 }), draft({ owner: 'bob', cachedResult: { result: { ok: 1 } } })],
      { weights: new Map([['bob', 3]]) },
    );
    const db = new Database(path.join(dir, 'inferq.db'), { readonly: true });
    try {
      const jobs = db.prepare('SELECT id, tenant, priority FROM jobs').all();
      expect(jobs).toEqual([{ id: queued!.id, tenant: 'bob', priority: 2 }]);
      expect(cached!.state).toBe('succeeded');
      expect(db.prepare('SELECT weight FROM tenant_weights WHERE tenant = ?').get('bob')).toEqual({
        weight: 3,
      });
    } finally {
      db.close();
    }
  });

  it('keeps an explicit broker file apart, enqueued by the caller as before', async () => {
    const dir = dataDir();
    const config = loadConfig({
      cwd: dir,
      env: {},
      overrides: { dataDir: dir, 'broker.url': `sqlite:${path.join(dir, 'other-queue.db')}` },
    });
    const backends = await openBackends(config);
    opened.push(backends);
    expect(backends.jobsWrittenByStore).toBe(false);
    await backends.store.createTasks([draft()]);
    expect((await backends.broker.depth(queue)).waiting).toBe(0);
  });
});

/**
 * A data dir of the older layout, made with the older code path: tasks in inferq.db, their jobs
 * in queue.db, one job in each state, and one task whose enqueue failed (no job).
 */
async function oldLayout(dir: string): Promise<Record<string, string>> {
  const store = SqliteTaskStore.open(path.join(dir, 'inferq.db'));
  const broker = SqliteBroker.open(path.join(dir, 'queue.db'));
  const [waiting, delayed, leased, dead, unqueued] = await store.createTasks([
    draft(),
    draft(),
    draft(),
    draft(),
    draft(),
  ]);
  await broker.enqueue(queue, { ...taskJob(leased!), weight: 2 });
  expect((await broker.lease(queue, { max: 1, leaseMs: 600_000 }))[0]!.id).toBe(leased!.id);
  await broker.enqueueMany(queue, [
    taskJob(waiting!),
    { ...taskJob(delayed!), delayMs: 600_000 },
    { ...taskJob(dead!), priority: 10 },
  ]);
  const [poison] = await broker.lease(queue, { max: 1, leaseMs: 600_000 });
  expect(poison!.id).toBe(dead!.id);
  await broker.nack(poison!, { error: 'poison', retryable: false });
  // A dead job's task is final (a worker fails it; cancelled here); the others are queued.
  await store.cancelTask(dead!.id);
  expect(await broker.depth(queue)).toEqual({ waiting: 1, delayed: 1, leased: 1, dead: 1 });
  await broker.close();
  await store.close();
  return {
    waiting: waiting!.id,
    delayed: delayed!.id,
    leased: leased!.id,
    dead: dead!.id,
    unqueued: unqueued!.id,
  };
}

function jobsIn(file: string): Array<{ id: string; state: number }> {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT id, state FROM jobs ORDER BY id').all() as Array<{ id: string; state: number }>;
  } finally {
    db.close();
  }
}

describe('moving an older data dir (queue.db) into the task database', () => {
  it('keeps every job, makes leased ones deliverable, and renames queue.db out of the way', async () => {
    const dir = dataDir();
    const ids = await oldLayout(dir);
    const backends = await openDefault(dir);
    expect(existsSync(path.join(dir, 'queue.db'))).toBe(false);
    expect(existsSync(path.join(dir, 'queue.db.moved'))).toBe(true);
    // The leased job is waiting again; the task whose enqueue was lost has its job.
    expect(await backends.broker.depth(queue)).toEqual({ waiting: 3, delayed: 1, leased: 0, dead: 1 });
    expect((await backends.broker.deadJobs(queue)).map((job) => job.id)).toEqual([ids.dead]);
    const leased = await backends.broker.lease(queue, { max: 10, leaseMs: 10_000 });
    expect(leased.map((job) => job.id).sort()).toEqual([ids.waiting, ids.leased, ids.unqueued].sort());
    const db = new Database(path.join(dir, 'inferq.db'), { readonly: true });
    try {
      expect(db.prepare('SELECT weight FROM tenant_weights WHERE tenant = ?').get('alice')).toEqual({
        weight: 2,
      });
    } finally {
      db.close();
    }
  });

  it('resumes a move interrupted after the copy committed, without doubles', async () => {
    const dir = dataDir();
    const ids = await oldLayout(dir);
    // A first open that crashed after the copy: the jobs are in inferq.db, queue.db is still there.
    const first = openStoreWithQueue(path.join(dir, 'inferq.db'));
    expect(first.broker.importQueueFile(path.join(dir, 'queue.db'))).toBe(4);
    await first.broker.close();
    await first.store.close();
    expect(existsSync(path.join(dir, 'queue.db'))).toBe(true);

    const backends = await openDefault(dir);
    expect(existsSync(path.join(dir, 'queue.db'))).toBe(false);
    const moved = jobsIn(path.join(dir, 'inferq.db'));
    expect(moved.map((job) => job.id).sort()).toEqual(Object.values(ids).sort());
    expect(await backends.broker.depth(queue)).toEqual({ waiting: 3, delayed: 1, leased: 0, dead: 1 });
  });
});
