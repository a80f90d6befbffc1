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
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import { sweepStalledPipelines } from '../../src/worker/housekeeping/pipeline-sweeper.js';
import { loadRuntimes } from '../../src/worker/load-runtimes.js';
import { ModelWorker } from '../../src/worker/model-worker.js';
import { PipelineCoordinator } from '../../src/worker/pipeline/pipeline-coordinator.js';
import type { OcrLine } from '../../src/worker/pipeline/pipeline-transforms.js';
import { eventually } from '../fixtures/eventually.js';
import { renderText, type TextLine } from '../fixtures/render-text.js';

// Every wake-up is lost: the model worker completes the steps but never tells the parent (as
// if each time its process died between writing the result and the notify, and the job was
// gone for good). Only the sweeper moves the `ocr` pipeline on, and it must finish it once.
let dir: string;
let store: SqliteTaskStore;
let broker: SqliteBroker;
let blobs: FsBlobStore;
let worker: ModelWorker;
let coordinator: PipelineCoordinator;
let stopRuntimes: () => Promise<void>;
const queue = 'ocr@1.0.0';

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'inferq-pipeline-sweeper-'));
  store = SqliteTaskStore.open(path.join(dir, 'inferq.db'));
  broker = SqliteBroker.open(path.join(dir, 'queue.db'), { reapIntervalMs: 100 });
  blobs = await FsBlobStore.open(path.join(dir, 'blobs'));
  const repository = new ModelRepository(bundledModelsDir);
  const { pipelines } = await readPipelines(bundledModelsDir, await repository.list());
  const { runtimes } = await loadRuntimes(repository, { only: ['ocr-det', 'ocr-cls', 'ocr-rec'] });
  stopRuntimes = async () => {
    await Promise.all(runtimes.map((r) => r.unload()));
  };
  // No notifyParents: step results are written and acked, and no parent ever hears of them.
  worker = new ModelWorker({ store, broker, blobs, runtimes, leaseMs: 5_000, version: 'test' });
  await worker.start();
  coordinator = new PipelineCoordinator({ store, broker, blobs, pipelines, workerId: 'c', leaseMs: 5_000 });
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until no wake-up is left on the pipeline queue and every step of `id` is final. */
async function settled(id: string): Promise<{ parent: Task; children: Task[] }> {
  return eventually(
    async () => {
      const depth = await broker.depth(queue);
      const children = await store.listChildTasks(id);
      const parent = (await store.getTask(id))!;
      const idle = depth.waiting + depth.delayed + depth.leased === 0;
      const final = isFinalState(parent.state) || children.every((c) => isFinalState(c.state));
      expect(idle && final, `pipeline ${id} did not settle: ${JSON.stringify(depth)}`).toBe(true);
      return { parent, children };
    },
    { timeoutMs: 60_000 },
  );
}

const stepCounts = (children: readonly Task[]) => {
  const count: Record<string, number> = {};
  for (const c of children) count[c.parent!.stepId] = (count[c.parent!.stepId] ?? 0) + 1;
  return count;
};

const page: TextLine[] = [
  { text: 'Durable async inference', x: 40, y: 80, size: 52 },
  { text: 'Upside down text', x: 560, y: 200, size: 48, rotate: 180 },
];

describe('pipeline sweeper', () => {
  it('advances a pipeline whose wake-ups were all lost, and finishes it exactly once', async () => {
    const blob = await blobs.put(await renderText(page, { width: 1000, height: 240 }));
    const id = newId();
    await store.createTasks([
      {
        id,
        requestId: 'r',
        owner: 't',
        target: { kind: 'pipeline', name: 'ocr', version: '1.0.0' },
        input: { sha256: blob.sha256, size: blob.size, mediaType: blob.mediaType },
      },
    ]);
    await broker.enqueue(queue, { id, payload: { taskId: id } });

    const rounds: Array<Record<string, number>> = [];
    for (;;) {
      const { parent, children } = await settled(id);
      if (isFinalState(parent.state)) break;
      // Stalled: running, every step final, nothing queued to wake it; and it stays so.
      await sleep(300);
      expect(stepCounts(await store.listChildTasks(id))).toEqual(stepCounts(children));
      expect((await store.getTask(id))!.state).toBe('running');
      rounds.push(stepCounts(children));
      // Too recent for a sweep with a grace period: a wake-up could still be on its way.
      expect(await sweepStalledPipelines({ store, broker, pipelines: [queue], graceMs: 60_000 })).toBe(0);
      // Two hosts sweep at once.
      const now = Date.now();
      const woken = await Promise.all(
        [0, 1].map(() => sweepStalledPipelines({ store, broker, pipelines: [queue], graceMs: 0, now })),
      );
      expect(woken).toEqual([1, 1]);
      expect(rounds.length).toBeLessThanOrEqual(3);
    }
    // det done → swept → cls queued; cls done → swept → rec queued; rec done → swept → assembled.
    expect(rounds).toEqual([
      { det: 1 },
      { det: 1, crop: 1, cls: 2 },
      // One of the two lines gets a second reading (rec-other): the classifier is not sure of it.
      { det: 1, crop: 1, cls: 2, upright: 2, other: 2, rec: 2, 'rec-other': 1 },
    ]);

    const task = (await store.getTask(id))!;
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    expect((task.result as { lines: OcrLine[] }).lines.map((l) => l.text)).toEqual(page.map((l) => l.text));
    expect(task.timeline.filter((e) => e.stage === 'succeeded')).toHaveLength(1);
    const children = await store.listChildTasks(id);
    expect(stepCounts(children)).toEqual({
      det: 1,
      crop: 1,
      cls: 2,
      upright: 2,
      other: 2,
      rec: 2,
      'rec-other': 1,
      assemble: 1,
    });
    for (const child of children) {
      const timeline = (await store.getTask(child.id))!.timeline.map((e) => e.stage);
      expect(timeline.filter((s) => s === 'created')).toHaveLength(1);
      expect(timeline.filter((s) => s === 'succeeded')).toHaveLength(1);
      if (child.target.kind === 'model') expect(child.attempts).toBe(1);
    }
    // A finished pipeline is never woken again.
    expect(await sweepStalledPipelines({ store, broker, pipelines: [queue], graceMs: 0 })).toBe(0);
    expect(await broker.deadJobs(queue)).toEqual([]);
  }, 120_000);
});
