import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TaskWriter } from '../../src/api/submit/task-writer.js';
import { sha256Hex } from '../../src/core/hash.js';
import { newId } from '../../src/core/ids.js';
import type { NewTask } from '../../src/core/task.js';
import { isInferqError } from '../../src/errors/index.js';
import { SqliteBroker } from '../../src/queue/sqlite/sqlite-broker.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';

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

describe('TaskWriter (group commit)', () => {
  let store: SqliteTaskStore;
  let broker: SqliteBroker;
  let writer: TaskWriter;
  let transactions: number;

  beforeEach(() => {
    store = SqliteTaskStore.open(':memory:');
    broker = SqliteBroker.open(':memory:');
    transactions = 0;
    // Counts the store transactions the writer opens; the real store does the work.
    const createTasks = store.createTasks.bind(store);
    store.createTasks = (drafts) => {
      transactions += 1;
      return createTasks(drafts);
    };
    writer = new TaskWriter(store, broker, pino({ level: 'silent' }));
  });
  afterEach(async () => {
    await broker.close();
    await store.close();
  });

  it('creates the submissions of one event-loop turn in one transaction and enqueues them', async () => {
    const requests = [[draft(), draft()], [draft()], [draft(), draft(), draft()]];
    const results = await Promise.all(requests.map((drafts) => writer.write(drafts)));
    expect(transactions).toBe(1);
    expect(results.map((tasks) => tasks.map((t) => t.requestId))).toEqual(
      requests.map((drafts) => drafts.map((d) => d.requestId)),
    );
    expect((await broker.depth('echo@1.0.0')).waiting).toBe(6);
    // A later turn starts a new group.
    await writer.write([draft()]);
    expect(transactions).toBe(2);
  });

  it('writes a group released by one callback (a blob group commit) in that turn, not the next', async () => {
    const ids = [newId(), newId(), newId()];
    // Inside a check-phase callback, as the inline blob store's group commit resolves its puts:
    // an immediate queued before the writes runs in the next turn, and by then they are stored.
    const storedByNextTurn = await new Promise<boolean[]>((resolve) => {
      setImmediate(() => {
        queueMicrotask(() => {
          setImmediate(() => {
            void Promise.all(ids.map((id) => store.getTask(id))).then((tasks) =>
              resolve(tasks.map((task) => task !== undefined)),
            );
          });
          for (const id of ids) void writer.write([draft({ id })]);
        });
      });
    });
    expect(storedByNextTurn).toEqual([true, true, true]);
    expect(transactions).toBe(1);
  });

  it('fails only the request at fault when a group cannot be written, and loses none of the others', async () => {
    const [existing] = await store.createTasks([draft({ id: newId() })]);
    transactions = 0;
    const good1 = [draft()];
    const bad = [draft(), draft({ id: existing!.id })];
    const good2 = [draft(), draft()];
    const settled = await Promise.allSettled([good1, bad, good2].map((drafts) => writer.write(drafts)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const error = (settled[1] as PromiseRejectedResult).reason;
    expect(isInferqError(error) && error.code).toBe('INFERQ_TASK_ID_CONFLICT');
    // All or none per request: nothing of the bad request was created.
    expect((await store.listTasks({ requestId: bad[0]!.requestId })).items).toEqual([]);
    expect((await store.countTasks({})).queued).toBe(1 + 1 + 2);
    expect((await broker.depth('echo@1.0.0')).waiting).toBe(3);
  });
});

describe('TaskWriter where the store writes the jobs (one SQLite file)', () => {
  let store: SqliteTaskStore;
  let broker: SqliteBroker;
  let transactions: number;

  beforeEach(() => {
    let opened: SqliteBroker | undefined;
    store = SqliteTaskStore.open(':memory:', {
      jobs: (db) => {
        opened = SqliteBroker.inTaskDatabase(db);
        return opened.writeTaskJobs;
      },
    });
    broker = opened!;
    transactions = 0;
    const createTasks = store.createTasks.bind(store);
    store.createTasks = (drafts, options) => {
      transactions += 1;
      return createTasks(drafts, options);
    };
    broker.enqueueMany = () => Promise.reject(new Error('the store writes the jobs: no enqueue'));
  });
  afterEach(async () => {
    await broker.close();
    await store.close();
  });

  it("creates a group's tasks and jobs in one transaction, with each owner's weight, and enqueues nothing", async () => {
    const writer = new TaskWriter(store, broker, pino({ level: 'silent' }), {
      weightOf: async (tenant) => (tenant === 'bob' ? 4 : undefined),
      jobsWrittenByStore: true,
    });
    const alice = Array.from({ length: 5 }, () => draft());
    const bob = Array.from({ length: 5 }, () => draft({ owner: 'bob' }));
    const results = await Promise.all([writer.write(alice), writer.write(bob)]);
    expect(transactions).toBe(1);
    // With weights 4 and 1 the first five leases are four of bob's and one of alice's (with
    // equal weights: three and two).
    const first = await broker.lease('echo@1.0.0', { max: 5, leaseMs: 10_000 });
    const bobs = new Set(results[1].map((task) => task.id));
    expect(first.filter((job) => bobs.has(job.id))).toHaveLength(4);
    const rest = await broker.lease('echo@1.0.0', { max: 10, leaseMs: 10_000 });
    expect([...first, ...rest].map((job) => job.id).sort()).toEqual(
      results
        .flat()
        .map((task) => task.id)
        .sort(),
    );
  });
});
