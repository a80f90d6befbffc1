import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../src/blobs/fs-blob-store.js';
import { newId } from '../../src/core/ids.js';
import type { Task } from '../../src/core/task.js';
import { isFinalState } from '../../src/core/task-state.js';
import { SqliteBroker } from '../../src/queue/sqlite/sqlite-broker.js';
import { bundledModelsDir, ModelRepository } from '../../src/runtime/model-repository.js';
import { readPipelines } from '../../src/runtime/read-pipelines.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import type { TaskStore } from '../../src/store/task-store.js';
import { loadRuntimes } from '../../src/worker/load-runtimes.js';
import { ModelWorker } from '../../src/worker/model-worker.js';
import { createParentNotifier } from '../../src/worker/notify-parents.js';
import { PipelineCoordinator } from '../../src/worker/pipeline-coordinator.js';
import type { OcrLine } from '../../src/worker/pipeline-transforms.js';
import { renderText, type TextLine } from '../fixtures/render-text.js';

// How many child rows the coordinator reads to run one page of many lines: SQLite store and
// queue, blob files, the real PP-OCRv4 models in a model worker, all in this process.
let dir: string;
let store: SqliteTaskStore;
let broker: SqliteBroker;
let blobs: FsBlobStore;
let worker: ModelWorker;
let coordinator: PipelineCoordinator;
let stopRuntimes: () => Promise<void>;
/** Child rows the coordinator got from the store, by parent. */
const rowsRead = new Map<string, number>();

/** The store as the coordinator sees it, counting the child rows each read returns. */
function countingStore(real: TaskStore): TaskStore {
  const count = (parentId: string, rows: number) =>
    rowsRead.set(parentId, (rowsRead.get(parentId) ?? 0) + rows);
  return new Proxy(real, {
    get(target, key, receiver) {
      if (key === 'listChildTasks') {
        return async (parentId: string) => {
          const rows = await target.listChildTasks(parentId);
          count(parentId, rows.length);
          return rows;
        };
      }
      if (key === 'listChildTasksChangedSince') {
        return async (parentId: string, cursor?: string) => {
          const read = await target.listChildTasksChangedSince(parentId, cursor);
          count(parentId, read.tasks.length);
          return read;
        };
      }
      const value = Reflect.get(target, key, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/**
 * The runtime with its model's batches capped at 4 (B = 4): a step of 24 items then finishes
 * in six batches, each waking the pipeline up.
 */
function inBatchesOf4(runtime: Runtime): Runtime {
  const spec = { ...runtime.model.spec, batching: { maxBatchSize: 4, maxDelayMs: 0 } };
  const model = { ...runtime.model, spec };
  return new Proxy(runtime, {
    get(target, key) {
      if (key === 'model') return model;
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'inferq-child-reads-'));
  store = SqliteTaskStore.open(path.join(dir, 'inferq.db'));
  broker = SqliteBroker.open(path.join(dir, 'queue.db'), { reapIntervalMs: 100 });
  blobs = await FsBlobStore.open(path.join(dir, 'blobs'));
  const repository = new ModelRepository(bundledModelsDir);
  const { pipelines } = await readPipelines(bundledModelsDir, await repository.list());
  const { runtimes, unavailable } = await loadRuntimes(repository, {
    only: ['ocr-det', 'ocr-cls', 'ocr-rec'],
  });
  expect(unavailable).toEqual({});
  stopRuntimes = async () => {
    await Promise.all(runtimes.map((r) => r.unload()));
  };
  worker = new ModelWorker({
    store,
    broker,
    blobs,
    runtimes: runtimes.map(inBatchesOf4),
    leaseMs: 10_000,
    version: 'test',
    workerId: 'models',
    notifyParents: createParentNotifier({ store, broker }),
  });
  await worker.start();
  coordinator = new PipelineCoordinator({
    store: countingStore(store),
    broker,
    blobs,
    pipelines,
    workerId: 'coordinator',
    leaseMs: 10_000,
  });
  coordinator.start();
}, 60_000);

afterAll(async () => {
  await coordinator?.stop();
  await worker?.stop();
  await stopRuntimes?.();
  await blobs?.close();
  await broker?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function final(id: string, timeoutMs = 120_000): Promise<Task> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const task = await store.getTask(id);
    if (task !== undefined && isFinalState(task.state)) return task;
    if (Date.now() > deadline) throw new Error(`task ${id} still ${task?.state} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('pipeline child reads', () => {
  it('reads each child of a 24-line page a few times, not once per wake-up', async () => {
    const lines: TextLine[] = Array.from({ length: 24 }, (_, i) => ({
      text: `Line ${i + 1} of a long page`,
      x: 30,
      y: 40 + i * 40,
      size: 28,
    }));
    const blob = await blobs.put(await renderText(lines, { width: 640, height: 40 + 24 * 40 }));
    const id = newId();
    await store.createTasks([
      {
        id,
        requestId: 'r',
        owner: 'tenant-a',
        target: { kind: 'pipeline', name: 'ocr', version: '1.0.0' },
        input: { sha256: blob.sha256, size: blob.size, mediaType: blob.mediaType },
      },
    ]);
    await broker.enqueue('ocr@1.0.0', { id, payload: { taskId: id } });
    const task = await final(id);
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    expect((task.result as { lines: OcrLine[] }).lines).toHaveLength(24);
    const children = await store.listChildTasks(id);
    // Each child is read when it was created, started or finished, at most (146 rows for its
    // 75 children here): re-reading every child on every wake-up read ~N²/B rows (601).
    const read = rowsRead.get(id) ?? 0;
    expect(read, `child rows read for ${children.length} children`).toBeLessThanOrEqual(3 * children.length);
  }, 180_000);
});
