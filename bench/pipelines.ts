/**
 * bench/pipelines: end-to-end images/s of the `ocr` pipeline through inferq (task created →
 * pipeline result stored: SQLite store and queue, blob files, model worker, coordinator, all
 * in this process) beside det → crop → cls → rotate → rec run directly in one process over
 * the same runtimes and images, in the same run; with p50/p99 latency per image.
 *
 *   npx tsx bench/pipelines.ts [--images 24] [--concurrency 4]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FsBlobStore } from '../src/blobs/fs-blob-store.js';
import { newId } from '../src/core/ids.js';
import { isFinalState } from '../src/core/task-state.js';
import { SqliteBroker } from '../src/queue/sqlite/sqlite-broker.js';
import { decodeImage } from '../src/runtime/image/decode-image.js';
import { bundledModelsDir, ModelRepository } from '../src/runtime/model-repository.js';
import { cropQuad, rotate180 } from '../src/runtime/ocr/crop-quad.js';
import { readPipelines } from '../src/runtime/read-pipelines.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { SqliteTaskStore } from '../src/store/sqlite/sqlite-task-store.js';
import { loadRuntimes } from '../src/worker/load-runtimes.js';
import { ModelWorker } from '../src/worker/model-worker.js';
import { createParentNotifier } from '../src/worker/notify-parents.js';
import { PipelineCoordinator } from '../src/worker/pipeline-coordinator.js';
import { renderText } from '../test/fixtures/render-text.js';

const { values: args } = parseArgs({
  options: { images: { type: 'string', default: '24' }, concurrency: { type: 'string', default: '4' } },
});
const count = Number(args.images);
const concurrency = Number(args.concurrency);

const fonts = ['DejaVu Sans', 'Liberation Serif', 'DejaVu Serif', 'Liberation Sans'];
const images = await Promise.all(
  Array.from({ length: count }, (_, i) =>
    renderText(
      Array.from({ length: 6 }, (_, k) => ({
        text: `Line ${k + 1} of page ${i + 1}: durable inference`,
        x: 30,
        y: 60 + k * 70,
        size: 40,
        font: fonts[(i + k) % fonts.length]!,
      })),
      { width: 900, height: 480 },
    ),
  ),
);

const dir = mkdtempSync(path.join(tmpdir(), 'inferq-bench-pipelines-'));
const repository = new ModelRepository(bundledModelsDir);
const { runtimes } = await loadRuntimes(repository, { only: ['ocr-det', 'ocr-cls', 'ocr-rec'] });
const [det, cls, rec] = ['ocr-det', 'ocr-cls', 'ocr-rec'].map(
  (n) => runtimes.find((r) => r.model.spec.name === n)!,
) as [Runtime, Runtime, Runtime];

/** Runs `work` over every image, `concurrency` at a time; per-image latencies in ms. */
async function run(work: (png: Buffer) => Promise<void>): Promise<{ seconds: number; latencies: number[] }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < images.length) {
        const png = images[next++]!;
        const t = performance.now();
        await work(png);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, latencies };
}

async function direct(png: Buffer): Promise<void> {
  const [d] = await det.predict([{ bytes: new Uint8Array(png) }]);
  if (!d?.ok) throw new Error('det failed');
  const image = await decodeImage({ bytes: png });
  const crops = (d.output as { boxes: { points: [number, number][] }[] }).boxes.map((b) =>
    cropQuad(image, b.points),
  );
  if (crops.length === 0) return;
  const labels = await cls.predict(
    crops.map((c) => ({ image: c })),
    {},
    { keepInputs: true },
  );
  const upright = crops.map((c, i) => {
    const r = labels[i];
    return r?.ok && (r.output as { label: string }).label === '180' ? rotate180(c) : c;
  });
  await rec.predict(upright.map((c) => ({ image: c })));
}

const store = SqliteTaskStore.open(path.join(dir, 'inferq.db'));
const broker = SqliteBroker.open(path.join(dir, 'queue.db'), { reapIntervalMs: 1_000 });
const blobs = await FsBlobStore.open(path.join(dir, 'blobs'));
const { pipelines } = await readPipelines(bundledModelsDir, await repository.list());
const worker = new ModelWorker({
  store,
  broker,
  blobs,
  runtimes,
  leaseMs: 30_000,
  version: 'bench',
  notifyParents: createParentNotifier({ store, broker }),
});
const coordinator = new PipelineCoordinator({
  store,
  broker,
  blobs,
  pipelines,
  workerId: 'bench',
  leaseMs: 30_000,
});
await worker.start();
coordinator.start();

async function throughInferq(png: Buffer): Promise<void> {
  const blob = await blobs.put(png);
  const id = newId();
  await store.createTasks([
    {
      id,
      requestId: 'bench',
      owner: 'bench',
      target: { kind: 'pipeline', name: 'ocr', version: '1.0.0' },
      input: { sha256: blob.sha256, size: blob.size, mediaType: blob.mediaType },
    },
  ]);
  await broker.enqueue('ocr@1.0.0', { id, payload: { taskId: id } });
  for (;;) {
    const task = await store.getTask(id);
    if (task && isFinalState(task.state)) {
      if (task.state !== 'succeeded') throw new Error(`${id} ${task.state}: ${task.error?.message}`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
await run(direct); // warm-up: sessions, caches
const a = await run(direct);
const b = await run(throughInferq);
const line = (name: string, r: { seconds: number; latencies: number[] }) =>
  `${name.padEnd(22)} ${(images.length / r.seconds).toFixed(2).padStart(7)} images/s   p50 ${pct(r.latencies, 0.5).toFixed(0).padStart(5)} ms   p99 ${pct(r.latencies, 0.99).toFixed(0).padStart(5)} ms`;
console.log(`ocr pipeline, ${images.length} images of 6 lines, concurrency ${concurrency}`);
console.log(line('direct (one process)', a));
console.log(line('inferq ocr pipeline', b));
console.log(`ratio inferq / direct: ${(a.seconds / b.seconds).toFixed(2)}× (target ≥ 0.9×)`);

await coordinator.stop();
await worker.stop();
await Promise.all(runtimes.map((r) => r.unload()));
await blobs.close();
await broker.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
