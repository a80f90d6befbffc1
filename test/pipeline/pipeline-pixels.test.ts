import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlobStore } from '../../src/blobs/blob-store.js';
import { FsBlobStore } from '../../src/blobs/fs-blob-store.js';
import type { LeasedJob } from '../../src/core/job.js';
import type { Task, TaskInput } from '../../src/core/task.js';
import { decodeImage, encodePng } from '../../src/runtime/image/decode-image.js';
import { bundledModelsDir, ModelRepository } from '../../src/runtime/model-repository.js';
import { cropQuad, rotate180 } from '../../src/runtime/ocr/crop-quad.js';
import type { Point } from '../../src/runtime/ocr/geometry.js';
import type { ModelInput, RawImage, Runtime } from '../../src/runtime/runtime.js';
import { createModelHandler } from '../../src/worker/model-handler.js';
import { PixelThread } from '../../src/worker/pipeline/pipeline-pixel-worker.js';
import { PipelinePixels } from '../../src/worker/pipeline/pipeline-pixels.js';
import { transforms } from '../../src/worker/pipeline/pipeline-transforms.js';
import { renderText } from '../fixtures/render-text.js';

// The pixel hand-off between pipeline steps of one process, over real blob files, the real
// crop and turn code in the pixel thread, and the model handler of the real ocr-rec model.
let dir: string;
let files: FsBlobStore;
let thread: PixelThread;
/** Blob reads, by sha256: the steps that decoded a blob instead of taking kept pixels. */
const reads: string[] = [];
let blobs: BlobStore;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'inferq-pixels-'));
  files = await FsBlobStore.open(path.join(dir, 'blobs'));
  blobs = new Proxy(files, {
    get(target, key, receiver) {
      if (key === 'readBytes') {
        return (sha256: string) => {
          reads.push(sha256);
          return target.readBytes(sha256);
        };
      }
      const value = Reflect.get(target, key, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  thread = new PixelThread();
});

afterAll(async () => {
  await thread?.close();
  await files?.close();
  rmSync(dir, { recursive: true, force: true });
});

const ref = (blob: { sha256: string; size: number; mediaType: string }): TaskInput => ({
  sha256: blob.sha256,
  size: blob.size,
  mediaType: blob.mediaType,
});
const same = (a: RawImage, b: RawImage) =>
  expect({ ...a, data: Buffer.from(a.data) }).toEqual({ ...b, data: Buffer.from(b.data) });

describe('pipeline pixel hand-off', () => {
  it('crops in the pixel thread, stores PNGs and keeps their pixels; rotate-180 turns the kept pixels', async () => {
    const page = await renderText(
      [
        { text: 'A tilted line of text', x: 30, y: 60, size: 36, rotate: 3 },
        { text: 'A straight one', x: 30, y: 150, size: 36 },
      ],
      { width: 600, height: 200 },
    );
    const image = ref(await blobs.put(page));
    // One tilted box (the perspective warp), one on whole pixels (a plain copy).
    const quads: Point[][] = [
      [
        [25.5, 20.25],
        [420.75, 40.5],
        [418.5, 80.25],
        [23.25, 60.5],
      ],
      [
        [28, 115],
        [300, 115],
        [300, 160],
        [28, 160],
      ],
    ];
    const pixels = new PipelinePixels();
    const context = { blobs, pixels, pixelThread: thread };
    reads.length = 0;
    const answered = thread.answered;
    const crops = (await transforms['crop-quads']!(
      [image, { boxes: quads.map((points) => ({ points })) }],
      context,
    )) as TaskInput[];
    expect(reads).toEqual([image.sha256]);
    expect(thread.answered).toBe(answered + 1); // the warp ran there, not on this loop

    const decodedPage = await decodeImage({ bytes: page });
    for (const [i, crop] of crops.entries()) {
      const expected = cropQuad(decodedPage, quads[i]!);
      // The blob is the PNG of exactly the crop, for a step in another process...
      same(await decodeImage({ bytes: await files.readBytes(crop.sha256) }), expected);
      expect(crop.mediaType).toBe('image/png');
      // ...and this process keeps its pixels, handed out as copies.
      same(pixels.take(crop.sha256)!, expected);
      same(pixels.take(crop.sha256)!, expected);
    }

    reads.length = 0;
    const turned = (await transforms['rotate-180']!(
      [crops[0], { label: '180', confidence: 0.95 }],
      context,
    )) as TaskInput;
    expect(reads).toEqual([]);
    expect(thread.answered).toBe(answered + 2);
    const expectedTurn = rotate180(cropQuad(decodedPage, quads[0]!));
    same(await decodeImage({ bytes: await files.readBytes(turned.sha256) }), expectedTurn);
    same(pixels.take(turned.sha256)!, expectedTurn);
    // Upright: the same crop goes on.
    expect(await transforms['rotate-180']!([crops[1], { label: '0' }], context)).toEqual(crops[1]);
  });

  it('gives an image model the kept pixels of its input, and reads the blob of any other', async () => {
    const model = await new ModelRepository(bundledModelsDir).get('ocr-rec');
    const seen: ModelInput[] = [];
    const runtime: Runtime = {
      model,
      load: async () => {},
      unload: async () => {},
      predict: async (batch) => {
        seen.push(...batch);
        return batch.map(() => ({ ok: true as const, output: { text: '', confidence: 0 } }));
      },
    };
    const crop: RawImage = { data: new Uint8Array(6 * 4 * 3).fill(200), width: 6, height: 4, channels: 3 };
    const kept = ref(await blobs.put(await encodePng(crop)));
    const other = ref(await blobs.put(await encodePng({ ...crop, data: new Uint8Array(6 * 4 * 3).fill(9) })));
    const pixels = new PipelinePixels();
    pixels.put(kept.sha256, { ...crop, data: crop.data.slice() });
    const item = (input: TaskInput) => ({
      task: { input, params: {}, paramsHash: 'p' } as unknown as Task,
      job: { enqueuedAt: Date.now() } as LeasedJob,
    });
    const handler = createModelHandler({ runtime, blobs, pixels });
    reads.length = 0;
    const outcomes = await handler([item(kept), item(other)], new AbortController().signal);
    expect(outcomes.map((o) => o.ok)).toEqual([true, true]);
    expect(reads).toEqual([other.sha256]);
    expect('image' in seen[0]! && seen[0].image.width).toBe(6);
    same((seen[0] as { image: RawImage }).image, crop);
    expect('bytes' in seen[1]!).toBe(true);
    // A copy: the runtime may take the array it was given, the kept pixels stay whole.
    expect(pixels.take(kept.sha256)!.data.byteLength).toBe(crop.data.byteLength);
  });

  it('decodes handed-over RGB pixels as they are, and still refuses wrong sizes', async () => {
    const crop: RawImage = { data: new Uint8Array(6 * 4 * 3).fill(7), width: 6, height: 4, channels: 3 };
    expect(await decodeImage({ image: crop })).toBe(crop);
    await expect(decodeImage({ image: crop }, 10)).rejects.toMatchObject({ code: 'INFERQ_INPUT_TOO_LARGE' });
    await expect(decodeImage({ image: { ...crop, width: 7 } })).rejects.toMatchObject({
      code: 'INFERQ_INPUT_UNDECODABLE',
    });
  });
});
