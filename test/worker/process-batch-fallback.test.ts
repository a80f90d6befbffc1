import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { taskJob } from '../../src/core/task-job.js';
import { SqliteBroker } from '../../src/queue/sqlite/sqlite-broker.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import { type ClaimedItem, processBatch } from '../../src/worker/process-batch.js';

// One per-item fallback, the model handler's (model-handler.ts, where the model call is): a
// handler that throws for its whole batch is not run again item by item by processBatch.

let dir: string;
let store: SqliteTaskStore;
let broker: SqliteBroker;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'inferq-process-batch-'));
  store = SqliteTaskStore.open(path.join(dir, 'inferq.db'));
  broker = SqliteBroker.open(path.join(dir, 'queue.db'));
});

afterAll(async () => {
  await broker.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

it('a handler that throws for the batch fails each item with its error, once, without running them one by one', async () => {
  const tasks = await store.createTasks(
    [1, 2, 3].map((i) => ({
      requestId: 'fallback',
      owner: 't',
      target: { kind: 'model' as const, name: 'echo', version: '1' },
      input: { sha256: String(i).padStart(64, '0'), size: 1, mediaType: 'text/plain' },
      maxAttempts: 2,
    })),
  );
  await broker.enqueueMany('echo@1', tasks.map(taskJob));
  const jobs = await broker.lease('echo@1', { max: 10, leaseMs: 10_000 });
  expect(jobs).toHaveLength(3);

  const calls: number[] = [];
  const report = await processBatch(
    {
      store,
      broker,
      workerId: 'w1',
      handler: async (items: readonly ClaimedItem[]) => {
        calls.push(items.length);
        throw new Error('the runtime is gone');
      },
    },
    jobs,
  );

  expect(calls).toEqual([3]);
  expect(report).toMatchObject({ retried: 3, succeeded: 0, failed: 0 });
  for (const task of tasks) {
    expect(await store.getTask(task.id)).toMatchObject({
      state: 'queued',
      attempts: 1,
      error: { code: 'INFERQ_WORK_FAILED', message: 'the runtime is gone' },
    });
  }
});
