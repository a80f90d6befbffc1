import pg from 'pg';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { TaskWriter } from '../../src/api/submit/task-writer.js';
import { type Backends, openBackends } from '../../src/cli/open-backends.js';
import { postgresAlone } from '../../src/cli/open-postgres-alone.js';
import { loadConfig } from '../../src/config/load-config.js';
import { sha256Hex } from '../../src/core/hash.js';
import type { NewTask } from '../../src/core/task.js';
import { isInferqError } from '../../src/errors/index.js';
import { PostgresTaskStore } from '../../src/store/postgres/postgres-task-store.js';
import { brokerNamespace } from '../fixtures/broker-namespace.js';
import { expectChildTasksWrittenWithJobs } from '../fixtures/child-task-jobs.js';
import { freshSchema, postgresSkipReason, testPostgresUrl } from '../fixtures/pg-schema.js';

const url = testPostgresUrl;
const redisUrl = process.env.TEST_REDIS_URL;
const queue = 'echo@1.0.0';
let counter = 0;
function draft(overrides: Partial<NewTask> = {}): NewTask {
  counter += 1;
  return {
    requestId: `req-${counter}`,
    owner: 'alice',
    target: { kind: 'model', name: 'echo', version: '1.0.0' },
    input: { sha256: sha256Hex(`pg-alone-${counter}`), size: 10, mediaType: 'text/plain' },
    ...overrides,
  };
}

function config(storeUrl: string, brokerUrl: string) {
  return loadConfig({
    cwd: process.cwd(),
    env: {},
    overrides: { 'store.url': storeUrl, 'broker.url': brokerUrl, 'blobs.url': storeUrl },
  });
}

describe('PostgreSQL alone: the same database and schema', () => {
  it('is told apart from a broker elsewhere, however the URL is spelt', () => {
    const base = 'postgres://u:p@db.example:5432/inferq';
    const alone = (store: string, broker: string) => postgresAlone(config(store, broker));
    expect(alone(base, base)).toBe(true);
    expect(alone(`${base}?schema=public`, 'postgresql://u:p@db.example/inferq')).toBe(true);
    expect(alone(`${base}?schema=a`, `${base}?schema=a`)).toBe(true);
    expect(alone(`${base}?schema=a`, `${base}?schema=b`)).toBe(false);
    expect(alone(base, 'postgres://u:p@db.example:5432/other')).toBe(false);
    expect(alone(base, 'postgres://u:p@db2.example:5432/inferq')).toBe(false);
    expect(alone(base, 'postgres://v:p@db.example:5432/inferq')).toBe(false);
    expect(alone(base, 'redis://db.example:6379')).toBe(false);
  });
});

describe.skipIf(!url)('PostgreSQL alone: a task and its job commit in one transaction', () => {
  if (!url) it.skip(postgresSkipReason, () => {});
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** Store and broker on `storeUrl`/`brokerUrl` (blobs in the store's schema). */
  async function open(storeUrl: string, brokerUrl: string): Promise<Backends> {
    const backends = await openBackends(config(storeUrl, brokerUrl));
    cleanups.push(() => backends.close());
    return backends;
  }

  async function schemaUrl(): Promise<{ url: string; schema: string }> {
    const { schema, drop } = await freshSchema(url!);
    cleanups.push(drop);
    const u = new URL(url!);
    u.searchParams.set('schema', schema);
    return { url: u.toString(), schema };
  }

  async function sql<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<R>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  it('writes the job in createTasks, with its priority and weight, and no enqueue call', async () => {
    const { url: shared, schema } = await schemaUrl();
    const backends = await open(shared, shared);
    expect(backends.jobsWrittenByStore).toBe(true);
    backends.broker.enqueueMany = () => Promise.reject(new Error('the store writes the jobs'));
    const [queued, cached] = await backends.store.createTasks(
      [draft({ owner: 'bob', priority: 4 }), draft({ owner: 'bob', cachedResult: { result: { ok: 1 } } })],
      { weights: new Map([['bob', 3]]) },
    );
    expect(cached!.state).toBe('succeeded');
    expect(await sql(`SELECT id, tenant, priority::int AS priority FROM ${schema}.broker_jobs`)).toEqual([
      { id: queued!.id, tenant: 'bob', priority: 4 },
    ]);
    expect(await sql(`SELECT tenant, weight FROM ${schema}.broker_tenant_weights`)).toEqual([
      { tenant: 'bob', weight: 3 },
    ]);
    const [job] = await backends.broker.lease(queue, { max: 5, leaseMs: 10_000 });
    expect(job).toMatchObject({ id: queued!.id, payload: { taskId: queued!.id }, priority: 4 });
  });

  it("writes a pipeline step's child tasks with their jobs, once", async () => {
    const { url: shared } = await schemaUrl();
    const backends = await open(shared, shared);
    await expectChildTasksWrittenWithJobs(backends, draft, queue);
  });

  it('wakes a long-polling leaser when the transaction commits', async () => {
    const { url: shared } = await schemaUrl();
    const backends = await open(shared, shared);
    const leased = backends.broker.lease(queue, { max: 1, leaseMs: 10_000, waitMs: 20_000 });
    const [task] = await backends.store.createTasks([draft()]);
    expect((await leased).map((job) => job.id)).toEqual([task!.id]);
  });

  it('rolls the tasks back when a job cannot be written', async () => {
    const { url: shared, schema } = await schemaUrl();
    const backends = await open(shared, shared);
    // A job the database refuses: the task's row, timeline and webhook must go with it.
    await sql(`ALTER TABLE ${schema}.broker_jobs ADD CONSTRAINT low_priority CHECK (priority < 100)`);
    const id = '0190a4e0-0000-7000-8000-0000000000a1';
    await expect(
      backends.store.createTasks([
        draft({ id, priority: 500, callbackUrl: 'https://hooks.example/x' }),
        draft({ priority: 1 }),
      ]),
    ).rejects.toMatchObject({ code: '23514' });
    expect(await backends.store.getTask(id)).toBeUndefined();
    expect(await sql(`SELECT count(*)::int AS n FROM ${schema}.tasks`)).toEqual([{ n: 0 }]);
    expect(await sql(`SELECT count(*)::int AS n FROM ${schema}.task_timeline`)).toEqual([{ n: 0 }]);
    expect(await sql(`SELECT count(*)::int AS n FROM ${schema}.broker_jobs`)).toEqual([{ n: 0 }]);

    await backends.broker.close();
    const closed = backends.store.createTasks([draft({ id })]);
    await expect(closed).rejects.toSatisfy((err) => isInferqError(err, 'INFERQ_BROKER_UNAVAILABLE'));
    expect(await backends.store.getTask(id)).toBeUndefined();
  });

  it('a TaskWriter on PostgreSQL alone creates leasable tasks without enqueueing', async () => {
    const { url: shared } = await schemaUrl();
    const backends = await open(shared, shared);
    let enqueues = 0;
    backends.broker.enqueueMany = () => {
      enqueues++;
      return Promise.reject(new Error('the store writes the jobs'));
    };
    const writer = new TaskWriter(backends.store, backends.broker, pino({ level: 'silent' }), {
      jobsWrittenByStore: backends.jobsWrittenByStore,
    });
    const [a, b] = await Promise.all([writer.write([draft()]), writer.write([draft()])]);
    const jobs = await backends.broker.lease(queue, { max: 5, leaseMs: 10_000 });
    expect(jobs.map((job) => job.id).sort()).toEqual([a![0]!.id, b![0]!.id].sort());
    expect(enqueues).toBe(0);
  });

  it('moving here from another broker: the open that creates the queue gives every queued task its job', async () => {
    const { url: shared } = await schemaUrl();
    // Tasks of a deployment on another broker (Redis, say): in the store, with no job here.
    const before = await PostgresTaskStore.open(shared);
    const old = await before.createTasks([draft({ priority: 3 }), draft()]);
    await before.close();
    const backends = await open(shared, shared);
    const jobs = await backends.broker.lease(queue, { max: 5, leaseMs: 10_000 });
    expect(jobs.map((job) => job.id).sort()).toEqual(old.map((task) => task.id).sort());
    expect(jobs.find((job) => job.id === old[0]!.id)?.priority).toBe(3);
  });

  it('a postgres broker in another schema is enqueued after the transaction, as before', async () => {
    const store = await schemaUrl();
    const other = await schemaUrl();
    const backends = await open(store.url, other.url);
    expect(backends.jobsWrittenByStore).toBe(false);
    const [task] = await backends.store.createTasks([draft()]);
    expect((await backends.broker.depth(queue)).waiting).toBe(0);
    const writer = new TaskWriter(backends.store, backends.broker, pino({ level: 'silent' }));
    await writer.write([draft()]);
    expect((await backends.broker.depth(queue)).waiting).toBe(1);
    expect(await sql(`SELECT id FROM ${store.schema}.tasks WHERE id = $1`, [task!.id])).toHaveLength(1);
  });

  it.skipIf(!redisUrl)('an explicit Redis broker is enqueued after the transaction, as before', async () => {
    const store = await schemaUrl();
    const namespace = brokerNamespace('redis', redisUrl!);
    cleanups.push(() => namespace.cleanup());
    const backends = await open(store.url, namespace.url);
    expect(backends.jobsWrittenByStore).toBe(false);
    await backends.store.createTasks([draft()]);
    expect((await backends.broker.depth(queue)).waiting).toBe(0);
    const writer = new TaskWriter(backends.store, backends.broker, pino({ level: 'silent' }), {
      jobsWrittenByStore: backends.jobsWrittenByStore,
    });
    const [task] = await writer.write([draft({ priority: 2 })]);
    const [job] = await backends.broker.lease(queue, { max: 5, leaseMs: 10_000 });
    expect(job).toMatchObject({ id: task!.id, priority: 2 });
    // No queue table in the store's schema: the store wrote no job.
    expect(await sql('SELECT to_regclass($1) AS t', [`${store.schema}.broker_jobs`])).toEqual([{ t: null }]);
  });
});
