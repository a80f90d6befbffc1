import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../src/blobs/fs-blob-store.js';
import type { CompiledPipeline } from '../../src/core/check-pipeline.js';
import { newId } from '../../src/core/ids.js';
import type { Task, TaskWithTimeline } from '../../src/core/task.js';
import { isFinalState } from '../../src/core/task-state.js';
import { SqliteBroker } from '../../src/queue/sqlite/sqlite-broker.js';
import { bundledModelsDir, ModelRepository } from '../../src/runtime/model-repository.js';
import { readPipelines } from '../../src/runtime/read-pipelines.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import type { TaskStore } from '../../src/store/task-store.js';
import { loadRuntimes } from '../../src/worker/load-runtimes.js';
import { ModelWorker } from '../../src/worker/model-worker.js';
import { createParentNotifier } from '../../src/worker/pipeline/notify-parents.js';
import { PipelineCoordinator } from '../../src/worker/pipeline/pipeline-coordinator.js';
import type { OcrLine } from '../../src/worker/pipeline/pipeline-transforms.js';
import { eventually } from '../fixtures/eventually.js';
import { blankImage, renderText, type TextLine } from '../fixtures/render-text.js';
import { testImage, testImagesMissing } from '../fixtures/test-images.js';

// The `ocr` pipeline end to end: SQLite store and queue, blob files, the three real PP-OCRv4
// models in a model worker, and a pipeline coordinator, all in this process.
let dir: string;
let store: SqliteTaskStore;
let broker: SqliteBroker;
let blobs: FsBlobStore;
let worker: ModelWorker;
let coordinator: PipelineCoordinator;
let stopRuntimes: () => Promise<void>;

/** Faults injected once, for one parent task: "a crash" right after a durable write. */
const faults: {
  crashAfterCreating?: { parentId: string; step: string };
  loseNotify?: { parentId: string; step: string };
} = {};

/** The store as the coordinator sees it: may "crash" (throw) right after a step's children were committed. */
function faultyStore(real: TaskStore): TaskStore {
  return new Proxy(real, {
    get(target, key, receiver) {
      if (key === 'createChildTasks') {
        return async (parentId: string, drafts: Parameters<TaskStore['createChildTasks']>[1]) => {
          const created = await target.createChildTasks(parentId, drafts);
          const fault = faults.crashAfterCreating;
          if (fault?.parentId === parentId && drafts.some((d) => d.parent?.stepId === fault.step)) {
            delete faults.crashAfterCreating;
            throw new Error(`simulated crash after creating step ${fault.step}`);
          }
          return created;
        };
      }
      const value = Reflect.get(target, key, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'inferq-pipeline-'));
  store = SqliteTaskStore.open(path.join(dir, 'inferq.db'));
  broker = SqliteBroker.open(path.join(dir, 'queue.db'), {
    reapIntervalMs: 100,
    backoff: { baseMs: 50, maxMs: 200, jitter: 0 },
  });
  blobs = await FsBlobStore.open(path.join(dir, 'blobs'));
  const repository = new ModelRepository(bundledModelsDir);
  const loaded = await readPipelines(bundledModelsDir, await repository.list());
  expect(loaded.invalid).toEqual({});
  const pipelines: CompiledPipeline[] = loaded.pipelines;
  const { runtimes, unavailable } = await loadRuntimes(repository, {
    only: ['ocr-det', 'ocr-cls', 'ocr-rec'],
  });
  expect(unavailable).toEqual({});
  stopRuntimes = async () => {
    await Promise.all(runtimes.map((r) => r.unload()));
  };
  const notify = createParentNotifier({ store, broker });
  worker = new ModelWorker({
    store,
    broker,
    blobs,
    runtimes,
    leaseMs: 2_000,
    version: 'test',
    workerId: 'models',
    notifyParents: async (children) => {
      const fault = faults.loseNotify;
      if (fault && children.some((c) => c.parent?.id === fault.parentId && c.parent.stepId === fault.step)) {
        delete faults.loseNotify;
        throw new Error(`simulated crash before telling the parent that step ${fault.step} finished`);
      }
      await notify(children);
    },
  });
  await worker.start();
  coordinator = new PipelineCoordinator({
    store: faultyStore(store),
    broker,
    blobs,
    pipelines,
    workerId: 'coordinator',
    leaseMs: 2_000,
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

/** Stores the image and creates + enqueues an `ocr` task the way the API does. */
async function submit(bytes: Buffer, id = newId(), params?: Record<string, unknown>): Promise<string> {
  const blob = await blobs.put(bytes);
  await store.createTasks([
    {
      id,
      requestId: 'r',
      owner: 'tenant-a',
      target: { kind: 'pipeline', name: 'ocr', version: '1.0.0' },
      input: { sha256: blob.sha256, size: blob.size, mediaType: blob.mediaType },
      ...(params ? { params } : {}),
    },
  ]);
  await broker.enqueue('ocr@1.0.0', { id, payload: { taskId: id } });
  return id;
}

async function final(id: string, timeoutMs = 90_000): Promise<TaskWithTimeline> {
  return eventually(
    async () => {
      const task = await store.getTask(id);
      expect(task !== undefined && isFinalState(task.state), `task ${id} still ${task?.state}`).toBe(true);
      return task!;
    },
    { timeoutMs },
  );
}

const steps = (children: readonly Task[]) => {
  const count: Record<string, number> = {};
  for (const c of children) count[c.parent!.stepId] = (count[c.parent!.stepId] ?? 0) + 1;
  return count;
};

// Four fonts, four sizes, and one upside-down line; each read exactly by det → cls → rec run
// directly (test/runtime/ocr-models.test.ts shows the models' own reading of such lines).
const page: TextLine[] = [
  { text: 'Invoice 2026-11 total 348.50', x: 40, y: 70, size: 48, font: 'Liberation Serif' },
  { text: 'Durable async inference', x: 40, y: 160, size: 52, font: 'DejaVu Sans' },
  { text: 'Batched across tasks', x: 40, y: 250, size: 44, font: 'Liberation Mono' },
  { text: 'Reading order matters', x: 40, y: 340, size: 60, font: 'DejaVu Serif' },
  { text: 'Upside down text', x: 560, y: 420, size: 48, rotate: 180, font: 'Liberation Sans' },
];
const second: TextLine[] = [
  { text: 'Hello World 2026', x: 40, y: 80, size: 56 },
  { text: 'PaddleOCR in TypeScript', x: 260, y: 180, size: 48 },
];

describe('ocr pipeline', () => {
  it('reads rendered lines exactly, in reading order, batching steps across crops and tasks', async () => {
    const [a, b] = await Promise.all([
      submit(await renderText(page, { width: 1000, height: 470 })),
      // Per-step params (here the default value, spelled out) reach that step's task only.
      submit(await renderText(second, { width: 1000, height: 230 }), newId(), {
        steps: { det: { limitSideLen: 960 } },
      }),
    ]);
    const [taskA, taskB] = [await final(a), await final(b)];
    expect(taskA.state, JSON.stringify(taskA.error)).toBe('succeeded');
    const result = taskA.result as { text: string; lines: OcrLine[] };
    expect(result.lines.map((l) => l.text)).toEqual(page.map((l) => l.text));
    expect(result.text).toBe(page.map((l) => l.text).join('\n'));
    for (const line of result.lines) {
      expect(line.confidence).toBeGreaterThan(0.9);
      expect(line.box).toHaveLength(4);
    }
    expect((taskB.result as { text: string }).text).toBe('Hello World 2026\nPaddleOCR in TypeScript');
    const paramsB = (await store.listChildTasks(b)).map((c) => [c.parent!.stepId, c.params]);
    // The task's params for det merged over the spec's.
    expect(paramsB).toContainEqual(['det', { unclipRatio: 1.8, scoreMode: 'slow', limitSideLen: 960 }]);
    expect(
      paramsB.filter(([step]) => step !== 'det').every(([, params]) => JSON.stringify(params) === '{}'),
    ).toBe(true);

    // Every step is a child task, each model step item ran once, and the parent's timeline
    // shows every step.
    const children = await store.listChildTasks(a);
    // The classifier is sure of every line (≥ 0.9) and the one it turns really is upside down:
    // `other` is null for the four upright lines; the turned one is read both ways round.
    expect(steps(children)).toEqual({
      det: 1,
      crop: 1,
      cls: 5,
      upright: 5,
      other: 5,
      rec: 5,
      'rec-other': 1,
      assemble: 1,
    });
    for (const child of children) {
      expect(child.state).toBe('succeeded');
      if (child.target.kind === 'model') expect(child.attempts).toBe(1);
    }
    const labels = children
      .filter((c) => c.parent?.stepId === 'cls')
      .map((c) => (c.result as { label: string }).label);
    expect(labels).toEqual(['0', '0', '0', '0', '180']);
    const stages = taskA.timeline.map((e) => `${e.stage}${e.data?.step ? `:${e.data.step}` : ''}`);
    expect(stages).toEqual([
      'created',
      'queued',
      'running',
      'step-queued:det',
      'step-computed:crop',
      'step-queued:cls',
      'step-computed:upright',
      'step-computed:other',
      'step-queued:rec',
      'step-queued:rec-other',
      'step-computed:assemble',
      'succeeded',
    ]);
    // The five crops of one image went to the recogniser together.
    const recBatches = await Promise.all(
      children
        .filter((c) => c.parent?.stepId === 'rec')
        .map(async (c) => (await store.getTask(c.id))!.timeline),
    );
    const sizes = recBatches.map((t) => Number(t.find((e) => e.stage === 'succeeded')?.data?.batchSize));
    expect(Math.max(...sizes)).toBeGreaterThan(1);
  }, 120_000);

  it('reads spaced words on coloured, tilted, blurred signs and tight crops exactly', async () => {
    // Sign-like photos: ink on a coloured plate over a busier background, turned a little,
    // blurred and JPEG-compressed; and a word cut edge to edge (1 % margin). Plain best-path
    // decoding ran these words together and the detector lost the tight crop.
    const images = [
      await sign({
        lines: ['TAXI FRIDAY BREAD Car'],
        plate: '#003f87',
        ink: '#ffffff',
        size: 40,
        tilt: 2,
        blur: 1,
        font: 'Liberation Serif',
      }),
      await sign({
        lines: ['PLATFORM LEFT One'],
        plate: '#f2f2f2',
        ink: '#1a1a1a',
        size: 36,
        tilt: -3,
        blur: 1.4,
        font: 'DejaVu Serif',
      }),
      await sign({
        lines: ['Please Ring Bell Now'],
        plate: '#5b2c6f',
        ink: '#f5f5f5',
        size: 34,
        tilt: 1,
        blur: 0.6,
        font: 'Liberation Sans',
      }),
      await sign({
        lines: ['KEEP 7'],
        plate: '#ff6a13',
        ink: '#ffffff',
        size: 50,
        tilt: 0,
        blur: 1.5,
        font: 'DejaVu Sans',
      }),
      await sign({
        lines: ['FIRE EXIT', 'KEEP CLEAR'],
        plate: '#c8102e',
        ink: '#ffffff',
        size: 46,
        tilt: 3,
        blur: 1.2,
      }),
      await sign({
        lines: ['Fresh Bread Daily'],
        plate: '#006b3f',
        ink: '#f5f5f5',
        size: 30,
        tilt: -2,
        blur: 0.8,
      }),
      await sign({
        lines: ['Open Daily'],
        plate: '#ffd100',
        ink: '#111111',
        size: 56,
        tilt: 0,
        blur: 0,
        tight: true,
      }),
    ];
    const ids = await Promise.all(images.map((bytes) => submit(bytes)));
    const texts = [];
    for (const id of ids) {
      const task = await final(id);
      expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
      texts.push((task.result as { text: string }).text);
    }
    expect(texts).toEqual([
      'TAXI FRIDAY BREAD Car',
      'PLATFORM LEFT One',
      'Please Ring Bell Now',
      'KEEP 7',
      'FIRE EXIT\nKEEP CLEAR',
      'Fresh Bread Daily',
      'Open Daily',
    ]);
  }, 120_000);

  it('returns an empty result for an image without text', async () => {
    const task = await final(await submit(await blankImage(640, 480)));
    expect(task.state).toBe('succeeded');
    expect(task.result).toEqual({ text: '', lines: [] });
    expect(steps(await store.listChildTasks(task.id))).toEqual({ det: 1, crop: 1, assemble: 1 });
  }, 60_000);

  it('marks a line whose crop the recogniser rejects and returns the others', async () => {
    // A 5-megapixel headline: its crop exceeds the 4-megapixel limit of ocr-cls and ocr-rec,
    // so both refuse it (INFERQ_INPUT_TOO_LARGE); the small line below is read as usual.
    const image = await renderText(
      [
        { text: 'OVERSIZED', x: 100, y: 900, size: 1000 },
        { text: 'Small print stays readable', x: 100, y: 1330, size: 110 },
      ],
      { width: 7000, height: 1500 },
    );
    // The detector must see the small line too: a larger working size for this task's det step.
    const id = await submit(image, newId(), { steps: { det: { limitSideLen: 2048 } } });
    const task = await final(id);
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    const { text, lines } = task.result as { text: string; lines: OcrLine[] };
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ text: '', confidence: 0, unreadable: true });
    expect(lines[0]!.box).toHaveLength(4);
    for (const [x, y] of lines[0]!.box) expect(x >= 0 && x < 7000 && y >= 0 && y < 1500).toBe(true);
    expect(lines[1]).toMatchObject({ text: 'Small print stays readable' });
    expect(lines[1]!.unreadable).toBeUndefined();
    expect(text).toBe('Small print stays readable');
    const children = await store.listChildTasks(id);
    const item0 = (step: string) =>
      children.find((c) => c.parent?.stepId === step && c.parent.itemIndex === 0)!;
    for (const step of ['cls', 'rec']) {
      expect(item0(step).state).toBe('failed');
      expect(item0(step).error?.code).toBe('INFERQ_INPUT_TOO_LARGE');
      expect(item0(step).attempts).toBe(1); // bad input: not retried
    }
  }, 120_000);

  it('reads real photographs: sensible lines, boxes inside the image, confidences in range', async ({
    skip,
  }) => {
    skip(testImagesMissing !== undefined, testImagesMissing);
    const photos = ['page.png', 'bw_text.png', 'chelsea.png'];
    const ids = await Promise.all(photos.map((name) => submit(testImage(name))));
    const results: Record<string, { text: string; lines: OcrLine[] }> = {};
    for (const [i, name] of photos.entries()) {
      const task = await final(ids[i]!);
      expect(task.state, `${name}: ${JSON.stringify(task.error)}`).toBe('succeeded');
      const result = task.result as { text: string; lines: OcrLine[] };
      const { width, height } = await sharp(testImage(name)).metadata();
      for (const line of result.lines) {
        expect(line.unreadable, `${name}: ${JSON.stringify(line)}`).toBeUndefined();
        if (!line.lowConfidence) expect(line.text.trim()).not.toBe('');
        expect(line.confidence).toBeGreaterThanOrEqual(0);
        expect(line.confidence).toBeLessThanOrEqual(1);
        expect(line.box).toHaveLength(4);
        for (const [x, y] of line.box) {
          expect(x >= 0 && x <= width! && y >= 0 && y <= height!, `${name}: box ${line.box}`).toBe(true);
        }
      }
      results[name] = result;
    }
    // A photographed book page: its heading first, then the body lines top to bottom.
    const page = results['page.png']!.lines;
    expect(page.length).toBeGreaterThanOrEqual(4);
    expect(page[0]!.text).toBe('Region-based segmentation');
    expect(page.map((l) => l.text)).toContain('Let us first determine markers of the coins and the');
    // Lines that run to the photo's edges (found since the detector's input is framed) and the
    // dimmer, packed ones (scored over their own outline); fragments read with low confidence
    // are flagged and left out of `text`.
    const kept = page.filter((l) => !l.lowConfidence).map((l) => l.text);
    expect(kept).toEqual(
      expect.arrayContaining([
        'background. These markers are pixels that we can label',
        'unambiguously as either object or background. Here,',
        'the markers are found at the two extreme parts of the',
        'histogram of grey values:',
      ]),
    );
    expect(kept.length).toBeGreaterThanOrEqual(7);
    expect(results['page.png']!.text).toBe(kept.join('\n'));
    for (const l of page.filter((l) => l.lowConfidence)) expect(l.confidence).toBeLessThan(0.5);
    const tops = page.map((l) => Math.min(...l.box.map(([, y]) => y)));
    expect(tops).toEqual([...tops].sort((a, b) => a - b));
    // A scanned paragraph: all ten lines, in order; and a cat with no text at all.
    expect(results['bw_text.png']!.lines).toHaveLength(10);
    expect(results['bw_text.png']!.lines[0]!.text).toBe('Men may seem detestable as joint');
    expect(results['chelsea.png']).toEqual({ text: '', lines: [] });
  }, 120_000);

  it('fails the task naming the step that failed', async () => {
    const task = await final(await submit(Buffer.from('this is not an image at all')));
    expect(task.state).toBe('failed');
    expect(task.error?.code).toBe('INFERQ_PIPELINE_STEP_FAILED');
    expect(task.error?.message).toMatch(
      /^step "det" \(model ocr-det@4\.0\.0\) failed: INFERQ_INPUT_UNDECODABLE/,
    );
    expect(task.error?.details).toMatchObject({ step: 'det', error: { code: 'INFERQ_INPUT_UNDECODABLE' } });
    expect(steps(await store.listChildTasks(task.id))).toEqual({ det: 1 });
  }, 60_000);

  it('resumes after crashes between steps with nothing lost or doubled', async () => {
    const id = newId();
    // The coordinator "dies" right after committing the rec step (before enqueueing it), and a
    // model worker "dies" after writing cls results, before telling the parent.
    faults.crashAfterCreating = { parentId: id, step: 'rec' };
    faults.loseNotify = { parentId: id, step: 'cls' };
    const task = await final(await submit(await renderText(page, { width: 1000, height: 470 }), id));
    expect(faults).toEqual({});
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    expect((task.result as { lines: OcrLine[] }).lines.map((l) => l.text)).toEqual(page.map((l) => l.text));
    const children = await store.listChildTasks(id);
    // The classifier is sure of every line (≥ 0.9) and the one it turns really is upside down:
    // `other` is null for the four upright lines; the turned one is read both ways round.
    expect(steps(children)).toEqual({
      det: 1,
      crop: 1,
      cls: 5,
      upright: 5,
      other: 5,
      rec: 5,
      'rec-other': 1,
      assemble: 1,
    });
    for (const child of children) {
      const timeline = (await store.getTask(child.id))!.timeline.map((e) => e.stage);
      expect(timeline.filter((s) => s === 'created')).toHaveLength(1);
      expect(timeline.filter((s) => s === 'succeeded')).toHaveLength(1);
      if (child.target.kind === 'model') expect(child.attempts).toBe(1);
    }
    expect(task.timeline.filter((e) => e.stage === 'step-queued' && e.data?.step === 'rec')).toHaveLength(1);
    expect(await broker.deadJobs('ocr@1.0.0')).toEqual([]);
  }, 120_000);
});

interface Sign {
  lines: string[];
  plate: string;
  ink: string;
  size: number;
  /** Degrees. */
  tilt: number;
  /** Gaussian sigma; 0 = sharp. */
  blur: number;
  /** Cut to the plate's text with a 1 % margin (a word filling the frame). */
  tight?: boolean;
  /** Default DejaVu Sans. */
  font?: string;
}

/** A sign: bold DejaVu Sans on a plate over a striped background, as a JPEG. */
async function sign(s: Sign): Promise<Buffer> {
  const width = Math.round(Math.max(...s.lines.map((l) => l.length)) * s.size * 0.75 + 2 * s.size + 120);
  const height = Math.round(s.lines.length * s.size * 1.5 + s.size + 120);
  const texts = s.lines
    .map(
      (l, k) =>
        `<text x="${width / 2}" y="${60 + s.size * (1.3 + 1.5 * k)}" text-anchor="middle" font-family="${s.font ?? 'DejaVu Sans'}" font-weight="bold" font-size="${s.size}" fill="${s.ink}">${l}</text>`,
    )
    .join('');
  const stripes = Array.from(
    { length: 12 },
    (_, i) => `<rect x="${i * 60}" width="30" height="100%" fill="#5d6b4f"/>`,
  ).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="#8a9a7a"/>${stripes}<g transform="rotate(${s.tilt} ${width / 2} ${height / 2})"><rect x="40" y="40" width="${width - 80}" height="${height - 80}" rx="10" fill="${s.plate}"/>${texts}</g></svg>`;
  let image = await sharp(Buffer.from(svg)).png().toBuffer();
  if (s.tight) {
    // Down to the ink on the plate, then 1 % of its height back on every side.
    const plate = await sharp(image)
      .extract({ left: 40, top: 40, width: width - 80, height: height - 80 })
      .png()
      .toBuffer();
    const { data, info } = await sharp(plate)
      .trim({ background: s.plate, threshold: 40 })
      .png()
      .toBuffer({ resolveWithObject: true });
    const m = Math.round(info.height * 0.01);
    image = await sharp(data)
      .extend({ top: m, bottom: m, left: m, right: m, background: s.plate })
      .png()
      .toBuffer();
  }
  const pipeline = s.blur > 0 ? sharp(image).blur(s.blur) : sharp(image);
  return pipeline.jpeg({ quality: 75 }).toBuffer();
}
