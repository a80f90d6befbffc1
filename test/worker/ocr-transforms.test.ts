import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../src/blobs/fs-blob-store.js';
import type { TaskInput } from '../../src/core/task.js';
import { decodeImage, encodePng } from '../../src/runtime/image/decode-image.js';
import { transforms } from '../../src/worker/pipeline/pipeline-transforms.js';

// The OCR transforms over a real blob store and real PNGs.
let dir: string;
let blobs: FsBlobStore;
let crop: TaskInput;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'inferq-ocr-transforms-'));
  blobs = await FsBlobStore.open(dir);
  // A 2 × 1 crop, dark on the left: turned half round it is dark on the right.
  const png = await encodePng({
    width: 2,
    height: 1,
    channels: 3,
    data: Uint8Array.from([0, 0, 0, 255, 255, 255]),
  });
  const blob = await blobs.put(png);
  crop = { sha256: blob.sha256, size: blob.size, mediaType: blob.mediaType };
});
afterAll(async () => {
  await blobs?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function firstPixel(value: unknown): Promise<number> {
  const bytes = await blobs.readBytes((value as TaskInput).sha256);
  return (await decodeImage({ bytes: new Uint8Array(bytes) })).data[0]!;
}

describe('rotate-180 and rotate-180-other', () => {
  it('turns a crop only on a confident "180"; an unsure one goes on as it is', async () => {
    expect(
      await firstPixel(
        await transforms['rotate-180']!([crop, { label: '180', confidence: 0.95 }], { blobs }),
      ),
    ).toBe(255);
    expect(await transforms['rotate-180']!([crop, { label: '180', confidence: 0.7 }], { blobs })).toEqual(
      crop,
    );
    expect(await transforms['rotate-180']!([crop, { label: '0', confidence: 0.99 }], { blobs })).toEqual(
      crop,
    );
    expect(await transforms['rotate-180']!([crop, null], { blobs })).toEqual(crop);
  });

  it('gives a second reading, the other way round, wherever the classifier could be wrong', async () => {
    const other = (direction: unknown) => transforms['rotate-180-other']!([crop, direction], { blobs });
    // A confident "0" (or no classifier result) is read once.
    for (const sure of [{ label: '0', confidence: 0.9 }, null]) expect(await other(sure)).toBeNull();
    // A confident "180" is read turned first, then as it is.
    expect(await other({ label: '180', confidence: 0.99 })).toEqual(crop);
    // Unsure, either label: read as it is first, then turned.
    for (const unsure of [
      { label: '180', confidence: 0.6 },
      { label: '0', confidence: 0.55 },
    ]) {
      expect(await firstPixel(await other(unsure))).toBe(255);
    }
  });
});

describe('ocr-assemble', () => {
  const box = (y: number) => [
    [0, y],
    [100, y],
    [100, y + 20],
    [0, y + 20],
  ];
  const det = { boxes: [0, 30, 60, 90].map((y) => ({ points: box(y), score: 0.9 })) };

  it('keeps the more confident of the two readings, flags lines under 0.5 and leaves them out of text', async () => {
    const read = [
      { text: 'upright line', confidence: 0.97 },
      { text: 'uwop episdn', confidence: 0.41 },
      { text: 'O', confidence: 0.42 },
      null,
    ];
    const turned = [null, { text: 'upside down', confidence: 0.93 }, { text: 'o', confidence: 0.3 }, null];
    const result = (await transforms['ocr-assemble']!([det, read, turned], { blobs })) as {
      text: string;
      lines: unknown[];
    };
    expect(result.text).toBe('upright line\nupside down');
    expect(result.lines).toEqual([
      { text: 'upright line', confidence: 0.97, box: box(0) },
      { text: 'upside down', confidence: 0.93, box: box(30) },
      { text: 'O', confidence: 0.42, box: box(60), lowConfidence: true },
      { text: '', confidence: 0, box: box(90), unreadable: true },
    ]);
  });

  it('takes the readings alone, as before, when a pipeline gives no second source', async () => {
    const result = await transforms['ocr-assemble']!(
      [{ boxes: [{ points: box(0) }] }, [{ text: 'a b', confidence: 0.8 }]],
      { blobs },
    );
    expect(result).toEqual({ text: 'a b', lines: [{ text: 'a b', confidence: 0.8, box: box(0) }] });
  });
});
