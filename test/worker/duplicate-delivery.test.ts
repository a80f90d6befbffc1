import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/core/ids.js';
import type { NewTask } from '../../src/core/task.js';
import { taskJob } from '../../src/core/task-job.js';
import type { Broker } from '../../src/queue/broker.js';
import { RabbitMqBroker } from '../../src/queue/rabbitmq/rabbitmq-broker.js';
import { SqliteBroker } from '../../src/queue/sqlite/sqlite-broker.js';
import { PostgresTaskStore } from '../../src/store/postgres/postgres-task-store.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import type { TaskStore } from '../../src/store/task-store.js';
import { LeaseLoop } from '../../src/worker/lease-loop.js';
import { type BatchHandler, processBatch } from '../../src/worker/process-batch.js';
import { brokerNamespace } from '../fixtures/broker-namespace.js';
import { eventually } from '../fixtures/eventually.js';
import { freshSchema, testPostgresUrl } from '../fixtures/pg-schema.js';

// The task row is the lease: a job delivered twice (a broker that cannot dedupe by id, or a
// redelivery that races a live worker) runs its model once, costs no attempt, and is not lost.
const queue = 'echo@1';

function draft(): NewTask {
  return {
    id: newId(),
    requestId: 'dup',
    owner: 'dup-test',
    target: { kind: 'model', name: 'echo', version: '1' },
    input: { sha256: 'd'.repeat(64), size: 1, mediaType: 'text/plain' },
    params: {},
  };
}

/** A handler that counts how often each task ran. */
function countingHandler(): { handler: BatchHandler; runs: Map<string, number> } {
  const runs = new Map<string, number>();
  return {
    runs,
    handler: async (items) => {
      for (const item of items) runs.set(item.task.id, (runs.get(item.task.id) ?? 0) + 1);
      return items.map((item) => ({ ok: true as const, result: { ran: item.task.id } }));
    },
  };
}

async function expectRanOnce(store: TaskStore, id: string, runs: Map<string, number>): Promise<void> {
  expect(runs.get(id)).toBe(1);
  const stored = (await store.getTask(id))!;
  expect(stored).toMatchObject({ state: 'succeeded', attempts: 1, result: { ran: id } });
  expect(stored.timeline.map((e) => e.stage)).toEqual(['created', 'queued', 'running', 'succeeded']);
}

describe('a job delivered twice runs its model once (SQLite store and broker)', () => {
  let dir: string;
  let store: SqliteTaskStore;
  let broker: SqliteBroker;

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'inferq-dup-'));
    store = SqliteTaskStore.open(path.join(dir, 'inferq.db'));
    broker = SqliteBroker.open(path.join(dir, 'queue.db'));
  });
  afterAll(async () => {
    await broker.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('in one batch: the second delivery is put back until the lease ends, then acked', async () => {
    const [task] = await store.createTasks([draft()]);
    // The task's job, and a second job naming the same task (what a broker that cannot dedupe
    // by id holds after a re-enqueue; SQLite dedupes by job id, so the copy has its own).
    await broker.enqueueMany(queue, [taskJob(task!), { ...taskJob(task!), id: newId() }]);
    const jobs = await broker.lease(queue, { max: 10, leaseMs: 5_000 });
    expect(jobs).toHaveLength(2);
    const { handler, runs } = countingHandler();
    const deps = { store, broker, workerId: 'w1', handler, leaseMs: 300 };
    const report = await processBatch(deps, jobs);
    expect(report).toMatchObject({ succeeded: 1, skipped: 1, stale: 0, failed: 0 });
    await expectRanOnce(store, task!.id, runs);
    // The copy comes back once the lease it met has run out, finds the task final, is acked.
    expect(await broker.depth(queue)).toMatchObject({ delayed: 1, dead: 0 });
    const again = await broker.lease(queue, { max: 10, leaseMs: 5_000, waitMs: 10_000 });
    expect(again).toHaveLength(1);
    expect(await processBatch(deps, again)).toMatchObject({ succeeded: 0, skipped: 1 });
    await expectRanOnce(store, task!.id, runs);
    expect(await broker.depth(queue)).toEqual({ waiting: 0, delayed: 0, leased: 0, dead: 0 });
  });

  it('to two workers at once: one runs it, the other neither runs it nor charges an attempt', async () => {
    const [task] = await store.createTasks([draft()]);
    const own = 'echo@2';
    await broker.enqueueMany(own, [taskJob(task!), { ...taskJob(task!), id: newId() }]);
    const [first, second] = await broker.lease(own, { max: 10, leaseMs: 5_000 });
    const { handler, runs } = countingHandler();
    let release: () => void = () => {};
    const running = new Promise<void>((resolve) => {
      release = resolve;
    });
    // w1's model is still running when w2 gets the copy.
    const slow: BatchHandler = async (items, signal) => {
      await running;
      return handler(items, signal);
    };
    const one = processBatch({ store, broker, workerId: 'w1', handler: slow, leaseMs: 5_000 }, [first!]);
    await eventually(
      async () => expect((await store.getTask(task!.id))?.state, 'w1 to claim').toBe('running'),
      {
        timeoutMs: 30_000,
      },
    );
    const two = await processBatch({ store, broker, workerId: 'w2', handler, leaseMs: 5_000 }, [second!]);
    expect(two).toMatchObject({ succeeded: 0, skipped: 1 });
    expect(await store.getTask(task!.id)).toMatchObject({ state: 'running', attempts: 1, workerId: 'w1' });
    release();
    expect(await one).toMatchObject({ succeeded: 1, stale: 0 });
    await expectRanOnce(store, task!.id, runs);
  });

  it("during a batch longer than the lease: the lease loop renews the task's row, so the copy never takes it over", async () => {
    const [task] = await store.createTasks([draft()]);
    const own = 'echo@3';
    // The copy is ready 700 ms in: past the 300 ms lease the run started under.
    await broker.enqueueMany(own, [taskJob(task!), { ...taskJob(task!), id: newId(), delayMs: 700 }]);
    const { handler, runs } = countingHandler();
    const slow: BatchHandler = async (items, signal) => {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      return handler(items, signal);
    };
    const loops = ['w1', 'w2'].map(
      (workerId) =>
        new LeaseLoop({
          broker,
          queue: own,
          batchSize: 1,
          leaseMs: 300,
          idleWaitMs: 50,
          taskRows: store,
          process: (jobs, signal) =>
            processBatch({ store, broker, workerId, handler: slow, leaseMs: 300, signal }, jobs),
        }),
    );
    for (const loop of loops) loop.start();
    try {
      await eventually(
        async () => {
          const depth = await broker.depth(own);
          expect((await store.getTask(task!.id))?.state, 'the task to succeed').toBe('succeeded');
          expect(depth, 'the copy to be acked').toMatchObject({ waiting: 0, delayed: 0, leased: 0 });
        },
        { timeoutMs: 30_000 },
      );
    } finally {
      await Promise.all(loops.map((loop) => loop.stop()));
    }
    await expectRanOnce(store, task!.id, runs);
  });
});

const amqpUrl = process.env.TEST_AMQP_URL;
describe.skipIf(amqpUrl === undefined || testPostgresUrl === undefined)(
  'a task enqueued twice on RabbitMQ (no dedupe by id) runs once (PostgreSQL store, lease loop)',
  () => {
    it('both deliveries leased in one batch: the model runs once, the copy is acked later', async () => {
      const schema = await freshSchema(testPostgresUrl!);
      const namespace = brokerNamespace('rabbitmq', amqpUrl!);
      const store = await PostgresTaskStore.open(testPostgresUrl!, { schema: schema.schema });
      const broker: Broker = await RabbitMqBroker.open(amqpUrl!, { prefix: namespace.prefix });
      expect(broker.capabilities.dedupeById).toBe(false);
      const { handler, runs } = countingHandler();
      const loop = new LeaseLoop({
        broker,
        queue,
        batchSize: 8,
        leaseMs: 1_000,
        maxDelayMs: 300,
        idleWaitMs: 100,
        taskRows: store,
        process: (jobs, signal) =>
          processBatch({ store, broker, workerId: 'w1', handler, leaseMs: 1_000, signal }, jobs),
      });
      try {
        const tasks = await store.createTasks([draft(), draft(), draft()]);
        const jobs = tasks.map((t) => taskJob(t));
        await broker.enqueueMany(queue, [...jobs, ...jobs]);
        loop.start();
        await eventually(
          async () => {
            const depth = await broker.depth(queue);
            expect((await store.countTasks({ owner: 'dup-test' })).succeeded, 'every task succeeded').toBe(3);
            expect(depth, 'every delivery acked').toMatchObject({ waiting: 0, delayed: 0, leased: 0 });
          },
          { timeoutMs: 30_000 },
        );
        for (const task of tasks) await expectRanOnce(store, task.id, runs);
        expect((await broker.depth(queue)).dead).toBe(0);
      } finally {
        await loop.stop();
        await broker.close();
        await store.close();
        await namespace.cleanup();
        await schema.drop();
      }
    }, 60_000);
  },
);
