import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../src/blobs/fs-blob-store.js';
import { newId } from '../../src/core/ids.js';
import { SqliteBroker } from '../../src/queue/sqlite/sqlite-broker.js';
import { bundledModelsDir, ModelRepository } from '../../src/runtime/model-repository.js';
import { readPipelines } from '../../src/runtime/read-pipelines.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import type { TaskStore } from '../../src/store/task-store.js';
import { PipelineCoordinator } from '../../src/worker/pipeline/pipeline-coordinator.js';
import { eventually } from '../fixtures/eventually.js';
import { renderText } from '../fixtures/render-text.js';

// A coordinator over the real SQLite store and queue and the bundled `ocr` pipeline, no model
// worker: only the first advance of each task (its `det` step created) is looked at.
let dir: string;
let store: SqliteTaskStore;
let broker: SqliteBroker;
let blobs: FsBlobStore;
let coordinator: PipelineCoordinator;
/** Claims of this task wait for `release` (an advance stuck on a slow step). */
let slowTask: string | undefined;
let release: () => void = () => {};
const gate = new Promise<void>((resolve) => {
  release = resolve;
});
const claims: string[] = [];

function slowStore(real: TaskStore): TaskStore {
  return new Proxy(real, {
    get(target, key, receiver) {
      if (key === 'claimTask') {
        return async (id: string, request: Parameters<TaskStore['claimTask']>[1]) => {
          claims.push(id);
          if (id === slowTask) await gate;
          return target.claimTask(id, request);
        };
      }
      const value = Reflect.get(target, key, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'inferq-coordinator-loops-'));
  store = SqliteTaskStore.open(path.join(dir, 'inferq.db'));
  broker = SqliteBroker.open(path.join(dir, 'queue.db'));
  blobs = await FsBlobStore.open(path.join(dir, 'blobs'));
  const repository = new ModelRepository(bundledModelsDir);
  const { pipelines } = await readPipelines(bundledModelsDir, await repository.list());
  coordinator = new PipelineCoordinator({
    store: slowStore(store),
    broker,
    blobs,
    pipelines,
    workerId: 'coordinator',
    leaseMs: 10_000,
  });
  coordinator.start();
});

afterAll(async () => {
  release();
  await coordinator?.stop();
  await blobs?.close();
  await broker?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function submit(id = newId()): Promise<string> {
  const blob = await blobs.put(
    await renderText([{ text: 'Hi', x: 10, y: 40, size: 32 }], { width: 200, height: 60 }),
  );
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
  return id;
}

describe('pipeline coordinator', () => {
  it('advances a task whose wake-up arrives while another advance is stuck', async () => {
    slowTask = newId();
    const slow = await submit(slowTask);
    // The first task's advance holds its batch (the claim waits on the gate)...
    await eventually(() => expect(claims).toContain(slow), { timeoutMs: 10_000 });
    const quick = await submit();
    // ...and the second task is advanced meanwhile: its first step is created.
    await eventually(
      async () => expect((await store.listChildTasks(quick)).map((c) => c.parent?.stepId)).toEqual(['det']),
      { timeoutMs: 10_000 },
    );
    expect(await store.listChildTasks(slow)).toEqual([]);
    release();
    await eventually(async () => expect(await store.listChildTasks(slow)).toHaveLength(1), {
      timeoutMs: 10_000,
    });
  }, 40_000);
});
