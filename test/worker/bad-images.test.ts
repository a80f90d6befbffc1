import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../src/blobs/fs-blob-store.js';
import type { TaskWithTimeline } from '../../src/core/task.js';
import { SqliteBroker } from '../../src/queue/sqlite/sqlite-broker.js';
import { bundledModelsDir, ModelRepository } from '../../src/runtime/model-repository.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import { loadRuntimes } from '../../src/worker/load-runtimes.js';
import { ModelWorker } from '../../src/worker/model-worker.js';
import { eventually } from '../fixtures/eventually.js';
import { renderText } from '../fixtures/render-text.js';

let dir: string;
let store: SqliteTaskStore;
let broker: SqliteBroker;
let blobs: FsBlobStore;
let runtimes: Runtime[];
let worker: ModelWorker;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'inferq-bad-images-'));
  store = SqliteTaskStore.open(path.join(dir, 'inferq.db'));
  broker = SqliteBroker.open(path.join(dir, 'queue.db'));
  blobs = await FsBlobStore.open(path.join(dir, 'blobs'));
  ({ runtimes } = await loadRuntimes(new ModelRepository(bundledModelsDir), { only: ['ocr-det'] }));
  worker = new ModelWorker({ store, broker, blobs, runtimes, leaseMs: 30_000, version: 'test' });
});

afterAll(async () => {
  await worker.stop();
  for (const r of runtimes) await r.unload();
  await blobs.close();
  await broker.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function submit(files: Buffer[]): Promise<string[]> {
  const inputs = await Promise.all(files.map((f) => blobs.put(f)));
  const tasks = await store.createTasks(
    inputs.map((input) => ({
      requestId: 'bad-images',
      owner: 't',
      target: { kind: 'model' as const, name: 'ocr-det', version: '4.0.0' },
      input: { sha256: input.sha256, size: input.size, mediaType: input.mediaType },
    })),
  );
  await broker.enqueueMany(
    'ocr-det@4.0.0',
    tasks.map((t) => ({ id: t.id, payload: { taskId: t.id } })),
  );
  return tasks.map((t) => t.id);
}

async function settled(ids: string[]): Promise<TaskWithTimeline[]> {
  return eventually(
    async () => {
      const tasks = await Promise.all(ids.map(async (id) => (await store.getTask(id))!));
      const open = tasks.filter((t) => t.state !== 'succeeded' && t.state !== 'failed');
      expect(
        open.map((t) => `${t.id} ${t.state}`),
        'not settled',
      ).toEqual([]);
      return tasks;
    },
    { timeoutMs: 60_000 },
  );
}

describe('bad images through the ocr-det worker', () => {
  it('fails each bad image with its own code; batch-mates succeed and the worker lives on', async () => {
    const good = await renderText([{ text: 'Hello World 2026', x: 20, y: 80, size: 56 }], {
      width: 640,
      height: 120,
    });
    const truncated = good.subarray(0, Math.floor(good.length / 2));
    const notAnImage = Buffer.from('%PDF-1.4 definitely not pixels');
    // 400 megapixels in 1.2 MB: a decompression bomb, far above ocr-det's maxPixels.
    const bomb = await sharp({
      create: { width: 20_000, height: 20_000, channels: 3, background: '#fff' },
      limitInputPixels: false,
    })
      .png({ compressionLevel: 9 })
      .toBuffer();
    const rssBefore = process.memoryUsage().rss;

    const ids = await submit([good, truncated, bomb, notAnImage]);
    await worker.start();
    const [ok, broken, huge, pdf] = await settled(ids);

    expect(ok?.state).toBe('succeeded');
    expect((ok!.result as { boxes: unknown[] }).boxes).toHaveLength(1);
    expect(broken).toMatchObject({
      state: 'failed',
      attempts: 1,
      error: { code: 'INFERQ_INPUT_UNDECODABLE' },
    });
    expect(huge).toMatchObject({ state: 'failed', attempts: 1, error: { code: 'INFERQ_INPUT_TOO_LARGE' } });
    expect(pdf).toMatchObject({ state: 'failed', attempts: 1, error: { code: 'INFERQ_INPUT_UNDECODABLE' } });
    // The bomb was refused from its header, never decoded (400 MP of RGB would be 1.2 GB).
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(600 * 1024 * 1024);

    // The worker is still serving.
    const [again] = await settled(await submit([good]));
    expect(again?.state).toBe('succeeded');
  }, 120_000);
});
