import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../src/blobs/fs-blob-store.js';
import { cancelTaskMessage, controlChannel } from '../../src/core/control-messages.js';
import type { Task, TaskWithTimeline } from '../../src/core/task.js';
import { SqliteBroker } from '../../src/queue/sqlite/sqlite-broker.js';
import { bundledModelsDir, ModelRepository } from '../../src/runtime/model-repository.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import { SqliteWorkerRegistry } from '../../src/store/sqlite/sqlite-worker-registry.js';
import { loadRuntimes } from '../../src/worker/load-runtimes.js';
import { ModelWorker } from '../../src/worker/model-worker.js';
import { WorkerMetrics } from '../../src/worker/worker-metrics.js';
import { eventually } from '../fixtures/eventually.js';

// A JS model that fails one item on its own ("bad"), or throws for the whole batch ("boom").
const pickyModel = `
export function predict(inputs) {
  const texts = inputs.map((i) => Buffer.from(i.bytes).toString('utf8'));
  if (texts.some((t) => t.includes('boom'))) {
    throw Object.assign(new Error('cannot read "boom"'), { code: 'INFERQ_VALIDATION_FAILED' });
  }
  return texts.map((t) => t.includes('bad')
    ? Object.assign(new Error('bad item'), { code: 'INFERQ_VALIDATION_FAILED' })
    : { upper: t.toUpperCase() });
}`;
const pickyYaml = `name: picky
version: 1.0.0
runtime: js
artifact: ./picky.js
input: { kind: text }
batching: { maxBatchSize: 8, maxDelayMs: 20 }
maxAttempts: 3
`;

// Tells each item what its model run held: identical items of a batch should be run once.
const tallyModel = `
export function predict(inputs) {
  const seen = inputs.map((i) => Buffer.from(i.bytes).toString('utf8'));
  return seen.map((text) => ({ text, runHeld: seen }));
}`;
const tallyYaml = (name: string, cache: boolean) => `name: ${name}
version: 1.0.0
runtime: js
artifact: ./tally.js
input: { kind: text }
batching: { maxBatchSize: 16, maxDelayMs: 20 }
cache: ${cache}
`;

let dir: string;
let store: SqliteTaskStore;
let broker: SqliteBroker;
let blobs: FsBlobStore;
let registry: SqliteWorkerRegistry;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'inferq-worker-'));
  store = SqliteTaskStore.open(path.join(dir, 'inferq.db'));
  broker = SqliteBroker.open(path.join(dir, 'queue.db'));
  blobs = await FsBlobStore.open(path.join(dir, 'blobs'));
  registry = SqliteWorkerRegistry.open(path.join(dir, 'inferq.db'));
  mkdirSync(path.join(dir, 'models', 'picky'), { recursive: true });
  writeFileSync(path.join(dir, 'models', 'picky', 'picky.js'), pickyModel);
  writeFileSync(path.join(dir, 'models', 'picky', 'model.yaml'), pickyYaml);
  for (const [name, cache] of [
    ['tally', true],
    ['tally-fresh', false],
  ] as const) {
    mkdirSync(path.join(dir, 'tally-models', name), { recursive: true });
    writeFileSync(path.join(dir, 'tally-models', name, 'tally.js'), tallyModel);
    writeFileSync(path.join(dir, 'tally-models', name, 'model.yaml'), tallyYaml(name, cache));
  }
});

afterAll(async () => {
  await registry.close();
  await blobs.close();
  await broker.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Stores inputs, creates tasks and enqueues them the way the API does. */
async function submit(
  model: { name: string; version: string },
  texts: string[],
  params = {},
): Promise<Task[]> {
  const inputs = await Promise.all(texts.map((t) => blobs.put(Buffer.from(t))));
  const tasks = await store.createTasks(
    inputs.map((input) => ({
      requestId: 'r',
      owner: 'tenant-a',
      target: { kind: 'model' as const, ...model },
      input: { sha256: input.sha256, size: input.size, mediaType: input.mediaType },
      params,
      maxAttempts: 3,
    })),
  );
  await broker.enqueueMany(
    `${model.name}@${model.version}`,
    tasks.map((t) => ({ id: t.id, payload: { taskId: t.id }, maxAttempts: 3 })),
  );
  return tasks;
}

async function settled(ids: string[], timeoutMs = 20_000): Promise<TaskWithTimeline[]> {
  return eventually(
    async () => {
      const tasks = await Promise.all(ids.map(async (id) => (await store.getTask(id))!));
      const open = tasks.filter((t) => !['succeeded', 'failed', 'cancelled'].includes(t.state));
      expect(
        open.map((t) => `${t.id} ${t.state}`),
        'not settled',
      ).toEqual([]);
      return tasks;
    },
    { timeoutMs, intervalMs: 25 },
  );
}

describe('ModelWorker', () => {
  it('runs the bundled echo model in dynamic batches and records timings and metrics', async () => {
    const { runtimes, unavailable } = await loadRuntimes(new ModelRepository(bundledModelsDir), {
      only: ['echo'],
    });
    expect(unavailable).toEqual({});
    const metricsRegistry = new Registry();
    const worker = new ModelWorker({
      store,
      broker,
      blobs,
      runtimes,
      registry,
      metrics: new WorkerMetrics(metricsRegistry),
      leaseMs: 5_000,
      version: 'test',
    });
    // Enqueue before the worker starts so batches can fill.
    const texts = Array.from({ length: 40 }, (_, i) => `item ${i}`);
    const tasks = await submit({ name: 'echo', version: '1.0.0' }, texts, { tag: 'x' });
    await worker.start();
    const [beat] = await registry.list();
    expect(beat).toMatchObject({ id: worker.id, models: ['echo@1.0.0'], state: 'running', version: 'test' });

    const done = await settled(tasks.map((t) => t.id));
    for (const [i, task] of done.entries()) {
      expect(task.state).toBe('succeeded');
      expect(task.result).toEqual({
        sha256: createHash('sha256').update(texts[i]!).digest('hex'),
        bytes: Buffer.byteLength(texts[i]!),
        params: { tag: 'x' },
      });
      const finished = task.timeline.find((e) => e.stage === 'succeeded');
      expect(finished?.data).toMatchObject({ computeMs: expect.any(Number), batchSize: expect.any(Number) });
    }
    const sizes = done.map((t) => t.timeline.find((e) => e.stage === 'succeeded')!.data!.batchSize as number);
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    const metrics = await metricsRegistry.getSingleMetricAsString('inferq_items_total');
    expect(metrics).toContain('inferq_items_total{model="echo@1.0.0",outcome="succeeded"} 40');

    await worker.stop();
    expect(await registry.list()).toEqual([]);
    for (const r of runtimes) await r.unload();
  });

  it('fails one bad item without failing its batch-mates, even when the model throws for the batch', async () => {
    const repository = new ModelRepository(path.join(dir, 'models'));
    const { runtimes } = await loadRuntimes(repository);
    const worker = new ModelWorker({ store, broker, blobs, runtimes, leaseMs: 5_000, version: 'test' });
    const texts = ['alpha', 'bad one', 'beta', 'boom', 'gamma'];
    const tasks = await submit({ name: 'picky', version: '1.0.0' }, texts);
    await worker.start();
    const done = await settled(tasks.map((t) => t.id));
    await worker.stop();
    for (const r of runtimes) await r.unload();

    const byText = Object.fromEntries(texts.map((t, i) => [t, done[i]!]));
    expect(byText.alpha).toMatchObject({ state: 'succeeded', result: { upper: 'ALPHA' } });
    expect(byText.beta).toMatchObject({ state: 'succeeded', result: { upper: 'BETA' } });
    expect(byText.gamma).toMatchObject({ state: 'succeeded', result: { upper: 'GAMMA' } });
    // Bad input is never retried: one attempt, failed with the model's code.
    expect(byText['bad one']).toMatchObject({
      state: 'failed',
      attempts: 1,
      error: { code: 'INFERQ_VALIDATION_FAILED' },
    });
    expect(byText.boom).toMatchObject({
      state: 'failed',
      attempts: 1,
      error: { code: 'INFERQ_VALIDATION_FAILED' },
    });
    expect(await broker.depth('picky@1.0.0')).toMatchObject({ waiting: 0, leased: 0, delayed: 0 });
  });

  it('runs identical items of a batch (same input, same params) once, unless the model has cache: false', async () => {
    const { runtimes } = await loadRuntimes(new ModelRepository(path.join(dir, 'tally-models')));
    const worker = new ModelWorker({ store, broker, blobs, runtimes, leaseMs: 5_000, version: 'test' });
    const texts = ['same page', 'other page', 'same page', 'same page'];
    // Enqueued before the worker starts, so that each model's four tasks make one batch.
    const shared = await submit({ name: 'tally', version: '1.0.0' }, texts);
    const fresh = await submit({ name: 'tally-fresh', version: '1.0.0' }, texts);
    const otherParams = await submit({ name: 'tally', version: '1.0.0' }, ['same page'], { lang: 'de' });
    await worker.start();
    const done = await settled([...shared, ...fresh, ...otherParams].map((t) => t.id));
    await worker.stop();
    for (const r of runtimes) await r.unload();

    const [sharedDone, freshDone] = [done.slice(0, 4), done.slice(4, 8)];
    for (const [i, task] of sharedDone.entries()) {
      expect(task).toMatchObject({ state: 'succeeded', result: { text: texts[i] } });
      // One run held each distinct input once; every task got its input's outcome.
      expect((task.result as { runHeld: string[] }).runHeld.sort()).toEqual(['other page', 'same page']);
      expect(task.timeline.find((e) => e.stage === 'succeeded')!.data).toMatchObject({ batchSize: 2 });
    }
    for (const task of freshDone) expect((task.result as { runHeld: string[] }).runHeld).toHaveLength(4);
    // Other params are other work: not shared with the batch's 'same page'.
    expect(done[8]).toMatchObject({ state: 'succeeded', result: { runHeld: ['same page'] } });
  });

  it('waits up to maxDelayMs after the first job to fill a batch from a trickle of arrivals', async () => {
    const repository = new ModelRepository(path.join(dir, 'models'));
    const { runtimes } = await loadRuntimes(repository);
    const worker = new ModelWorker({ store, broker, blobs, runtimes, leaseMs: 5_000, version: 'test' });
    await worker.start();
    // One task every 2 ms into an empty queue: without the batching window each would run alone.
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      ids.push(...(await submit({ name: 'picky', version: '1.0.0' }, [`trickle ${i}`])).map((t) => t.id));
      await new Promise((r) => setTimeout(r, 2));
    }
    const done = await settled(ids);
    await worker.stop();
    for (const r of runtimes) await r.unload();
    expect(done.every((t) => t.state === 'succeeded')).toBe(true);
    const sizes = done.map((t) => t.timeline.find((e) => e.stage === 'succeeded')!.data!.batchSize as number);
    expect(Math.max(...sizes)).toBeGreaterThan(1);
  });

  it('stops a running batch when every task in it is cancelled over the control channel', async () => {
    const { runtimes } = await loadRuntimes(new ModelRepository(bundledModelsDir), { only: ['echo'] });
    const worker = new ModelWorker({ store, broker, blobs, runtimes, leaseMs: 30_000, version: 'test' });
    const tasks = await submit({ name: 'echo', version: '1.0.0' }, ['slow a', 'slow b'], { delayMs: 60_000 });
    await worker.start();
    const deadline = Date.now() + 10_000;
    await eventually(() => expect(worker.inFlightItems).toBe(2), {
      timeoutMs: deadline - Date.now(),
      intervalMs: 20,
    });

    // What DELETE /v1/tasks/{id} does: cancel in the store, then tell the workers.
    await store.cancelTask(tasks[0]!.id);
    await broker.publish(controlChannel, cancelTaskMessage(tasks[0]!.id));
    await new Promise((r) => setTimeout(r, 300));
    expect(worker.inFlightItems).toBe(2); // one task of the batch still wants its result

    await store.cancelTask(tasks[1]!.id);
    await broker.publish(controlChannel, cancelTaskMessage(tasks[1]!.id));
    // The 60 s model run is abandoned at once, not awaited.
    await eventually(() => expect(worker.inFlightItems).toBe(0), {
      timeoutMs: deadline - Date.now(),
      intervalMs: 20,
    });
    const after = await Promise.all(tasks.map((t) => store.getTask(t.id)));
    expect(after.map((t) => [t?.state, t?.result ?? null])).toEqual([
      ['cancelled', null],
      ['cancelled', null],
    ]);
    await worker.stop();
    for (const r of runtimes) await r.unload();
  });

  it('reports a model that cannot load and serves the others', async () => {
    mkdirSync(path.join(dir, 'models2', 'broken'), { recursive: true });
    writeFileSync(
      path.join(dir, 'models2', 'broken', 'model.yaml'),
      'name: broken\nversion: 1.0.0\nruntime: js\nartifact: ./missing.js\ninput: { kind: text }\n',
    );
    mkdirSync(path.join(dir, 'models2', 'picky'), { recursive: true });
    writeFileSync(path.join(dir, 'models2', 'picky', 'picky.js'), pickyModel);
    writeFileSync(path.join(dir, 'models2', 'picky', 'model.yaml'), pickyYaml);
    const { runtimes, unavailable } = await loadRuntimes(new ModelRepository(path.join(dir, 'models2')));
    expect(runtimes.map((r) => r.model.ref)).toEqual(['picky@1.0.0']);
    expect(Object.keys(unavailable)).toEqual(['broken']);
    expect(unavailable.broken).toContain('missing.js');
    for (const r of runtimes) await r.unload();
  });
});
