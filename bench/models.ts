/**
 * bench/models: throughput of ocr-rec and ocr-cls through inferq (enqueue → result stored) at
 * saturation, beside a raw onnxruntime-node loop over the same inputs in the same run, with
 * a sweep of maxBatchSize and maxDelayMs; the event-loop lag of the hosting process while the
 * models run; and (--memory N) the RSS of a worker across N detection images of mixed sizes.
 *
 *   npx tsx bench/models.ts [--items 960] [--sizes 1,4,8,16] [--delays 0,5] [--memory 1000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { FsBlobStore } from '../src/blobs/fs-blob-store.js';
import { SqliteBroker } from '../src/queue/sqlite/sqlite-broker.js';
import { createRuntime } from '../src/runtime/create-runtime.js';
import { loadProcessor } from '../src/runtime/load-processor.js';
import { bundledModelsDir, ModelRepository, type ResolvedModel } from '../src/runtime/model-repository.js';
import type { OnnxSession, Tensor, TensorData } from '../src/runtime/onnx-processor.js';
import { SqliteTaskStore } from '../src/store/sqlite/sqlite-task-store.js';
import { ModelWorker } from '../src/worker/model-worker.js';
import { renderText } from '../test/fixtures/render-text.js';
import { percentile } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    items: { type: 'string', default: '960' },
    sizes: { type: 'string', default: '1,4,8,16' },
    delays: { type: 'string', default: '0,5' },
    models: { type: 'string', default: 'ocr-rec,ocr-cls' },
    memory: { type: 'string', default: '0' },
  },
});
const items = Number(args.items);
const sizes = args.sizes.split(',').map(Number);
const delays = args.delays.split(',').map(Number);
const words = [
  'inferq',
  'Hello World 2026',
  'durable queue',
  'batch 16',
  'PaddleOCR',
  'The quick brown fox',
  'SQLite WAL',
  'p99',
];

/** Text-line crops of varied lengths and sizes, like the crops the ocr pipeline produces. */
async function lineImages(n: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const text = words[i % words.length]!;
    const size = 28 + (i % 4) * 6;
    const width = Math.ceil(text.length * size * 0.62) + 20;
    out.push(
      await renderText([{ text, x: 10, y: Math.round(size * 1.1), size }], {
        width,
        height: Math.round(size * 1.5),
      }),
    );
  }
  return out;
}

/** The baseline: onnxruntime-node in this thread, the same processor, batches of `size`. */
async function rawLoop(model: ResolvedModel, inputs: Buffer[], size: number): Promise<number> {
  const session = await ort.InferenceSession.create(model.artifactPath!, {
    intraOpNumThreads: model.spec.threads ?? 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const adapter: OnnxSession = {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds: Record<string, Tensor>) {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feeds))
        ortFeeds[name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
      const outputs = await session.run(ortFeeds);
      const result: Record<string, Tensor> = {};
      for (const [name, value] of Object.entries(outputs))
        result[name] = { type: value.type, data: value.data as TensorData, dims: value.dims };
      return result;
    },
  };
  const processor = await loadProcessor(model);
  const started = performance.now();
  for (let i = 0; i < inputs.length; i += size) {
    const batch = inputs.slice(i, i + size).map((b) => ({ bytes: new Uint8Array(b) }));
    const results = await processor.predict(batch, {}, adapter);
    if (results.some((r) => !r.ok)) throw new Error('raw loop: an item failed');
  }
  const seconds = (performance.now() - started) / 1000;
  await session.release();
  return inputs.length / seconds;
}

/** inferq: embedded store, queue and blobs, one ModelWorker; enqueue all, wait for all results. */
async function throughInferq(
  model: ResolvedModel,
  inputs: Buffer[],
  maxBatchSize: number,
  maxDelayMs: number,
) {
  const dir = mkdtempSync(path.join(tmpdir(), 'inferq-bench-models-'));
  const store = SqliteTaskStore.open(path.join(dir, 'inferq.db'));
  const broker = SqliteBroker.open(path.join(dir, 'queue.db'));
  const blobs = await FsBlobStore.open(path.join(dir, 'blobs'));
  const tuned: ResolvedModel = { ...model, spec: { ...model.spec, batching: { maxBatchSize, maxDelayMs } } };
  const runtime = createRuntime(tuned);
  await runtime.load();
  const worker = new ModelWorker({
    store,
    broker,
    blobs,
    runtimes: [runtime],
    leaseMs: 60_000,
    version: 'bench',
  });
  await worker.start();
  const stored = await Promise.all(inputs.map((b) => blobs.put(b)));
  const lag = monitorEventLoopDelay({ resolution: 5 });
  lag.enable();
  const started = Date.now();
  const tasks = await store.createTasks(
    stored.map((input) => ({
      requestId: 'bench',
      owner: 'bench',
      target: { kind: 'model' as const, name: model.spec.name, version: model.spec.version },
      input: { sha256: input.sha256, size: input.size, mediaType: input.mediaType },
    })),
  );
  await broker.enqueueMany(
    model.ref,
    tasks.map((t) => ({ id: t.id, payload: { taskId: t.id } })),
  );
  for (;;) {
    const counts = await store.countTasks({ owner: 'bench' });
    if (counts.succeeded + counts.failed === tasks.length) {
      if (counts.failed > 0) throw new Error(`${counts.failed} tasks failed`);
      break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const seconds = (Date.now() - started) / 1000;
  lag.disable();
  const latencies = (await Promise.all(tasks.map((t) => store.getTask(t.id))))
    .map((t) => t!.finishedAt! - t!.createdAt)
    .sort((a, b) => a - b);
  await worker.stop();
  await runtime.unload();
  await blobs.close();
  await broker.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    throughput: tasks.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    lagP99: lag.percentile(99) / 1e6,
  };
}

async function memoryRun(n: number): Promise<void> {
  const model = await new ModelRepository(bundledModelsDir).get('ocr-det');
  const images: Buffer[] = [];
  for (let i = 0; i < 40; i++) {
    const width = 200 + ((i * 37) % 500);
    const height = 80 + ((i * 53) % 300);
    images.push(
      await renderText([{ text: words[i % words.length]!, x: 10, y: 50, size: 32 }], { width, height }),
    );
  }
  const runtime = createRuntime(model);
  await runtime.load();
  const rss: number[] = [];
  for (let i = 0; i < n; i += 10) {
    const batch = Array.from({ length: 10 }, (_, k) => ({
      bytes: new Uint8Array(images[(i + k) % images.length]!),
    }));
    await runtime.predict(batch);
    if (i === 100 || i + 10 >= n) rss.push(process.memoryUsage().rss);
  }
  await runtime.unload();
  console.log(
    `memory: ocr-det over ${n} images of mixed sizes: RSS after 100 = ${(rss[0]! / 2 ** 20).toFixed(0)} MiB, after ${n} = ${(rss.at(-1)! / 2 ** 20).toFixed(0)} MiB`,
  );
}

const repository = new ModelRepository(bundledModelsDir);
const inputs = await lineImages(items);
console.log(
  `bench/models: ${items} text-line crops; raw = onnxruntime-node session loop in one thread, same processor`,
);
for (const name of args.models.split(',').filter(Boolean)) {
  const model = await repository.get(name);
  console.log(`\n${model.ref} (threads ${model.spec.threads ?? 1})`);
  console.log(
    'maxBatchSize maxDelayMs | raw items/s | inferq items/s | ratio | p50 ms | p99 ms | loop lag p99 ms',
  );
  for (const size of sizes) {
    for (const delay of delays) {
      const raw = await rawLoop(model, inputs, size);
      const run = await throughInferq(model, inputs, size, delay);
      console.log(
        `${String(size).padStart(12)} ${String(delay).padStart(10)} | ${raw.toFixed(1).padStart(11)} | ${run.throughput.toFixed(1).padStart(14)} | ${(run.throughput / raw).toFixed(2).padStart(5)} | ${String(run.p50).padStart(6)} | ${String(run.p99).padStart(6)} | ${run.lagP99.toFixed(1).padStart(6)}`,
      );
    }
  }
}
if (Number(args.memory) > 0) await memoryRun(Number(args.memory));
