import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime } from '../../src/runtime/create-runtime.js';
import { decodeImage, encodePng } from '../../src/runtime/image/decode-image.js';
import { bundledModelsDir, ModelRepository } from '../../src/runtime/model-repository.js';
import type { ClsOutput } from '../../src/runtime/ocr/cls-processor.js';
import { cropQuad, rotate180 } from '../../src/runtime/ocr/crop-quad.js';
import type { RecognizedText } from '../../src/runtime/ocr/ctc-decode.js';
import type { DetOutput } from '../../src/runtime/ocr/det-processor.js';
import type { PredictResult, RawImage, Runtime } from '../../src/runtime/runtime.js';
import { blankImage, type RenderOptions, renderText, type TextLine } from '../fixtures/render-text.js';
import { testImage, testImagesMissing } from '../fixtures/test-images.js';

// The three PP-OCRv4 models, each loaded once for this file.
let det: Runtime;
let cls: Runtime;
let rec: Runtime;

beforeAll(async () => {
  const repository = new ModelRepository(bundledModelsDir);
  const load = async (name: string) => createRuntime(await repository.get(name));
  [det, cls, rec] = [await load('ocr-det'), await load('ocr-cls'), await load('ocr-rec')];
  await Promise.all([det.load(), cls.load(), rec.load()]);
});
afterAll(() => Promise.all([det?.unload(), cls?.unload(), rec?.unload()]));

function output<T>(result: PredictResult | undefined): T {
  if (!result?.ok) throw new Error(`item failed: ${result?.error.code} ${result?.error.message}`);
  return result.output as T;
}

async function detect(png: Buffer): Promise<DetOutput> {
  return output<DetOutput>((await det.predict([{ bytes: new Uint8Array(png) }]))[0]);
}

/** det → crop → cls (turn upside-down lines) → rec, as the `ocr` pipeline will chain them. */
async function readAll(
  png: Buffer,
): Promise<{ boxes: DetOutput['boxes']; labels: ClsOutput[]; texts: RecognizedText[] }> {
  const { boxes } = await detect(png);
  const image = await decodeImage({ bytes: png });
  const crops = boxes.map((box) => cropQuad(image, box.points));
  const labels = (
    await cls.predict(
      crops.map((c) => ({ image: c })),
      {},
      { keepInputs: true },
    )
  ).map((r) => output<ClsOutput>(r));
  const upright = crops.map((crop, i) => (labels[i]!.label === '180' ? rotate180(crop) : crop));
  const texts = (await rec.predict(upright.map((c) => ({ image: c })))).map((r) => output<RecognizedText>(r));
  return { boxes, labels, texts };
}

/** Bounding box of the dark pixels of one line drawn alone on the same canvas. */
async function inkBounds(line: TextLine, canvas: RenderOptions) {
  const image = await decodeImage({ bytes: await renderText([line], canvas) });
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      if (image.data[(y * image.width + x) * 3]! >= 128) continue;
      [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    }
  }
  return { x0, y0, x1, y1 };
}

// PP-OCRv4's recogniser (trained mostly on Chinese) tends to run Latin words together below
// ~44 px line height ("overthelazydog12345") under plain best-path decoding, exactly as
// PaddleOCR itself does with this model; ocr-rec's spaceThreshold keeps those spaces (below).
const lines: TextLine[] = [
  { text: 'Hello World 2026', x: 40, y: 80, size: 56 },
  { text: 'Durable async inference', x: 60, y: 180, size: 48 },
  { text: 'The quick brown fox jumps', x: 40, y: 270, size: 40 },
  { text: 'PaddleOCR in TypeScript', x: 260, y: 370, size: 48 },
];
const canvas: RenderOptions = { width: 1000, height: 420 };

describe('ocr-det + ocr-rec on rendered text', () => {
  it('finds every line, in reading order, boxed around its ink in original image coordinates', async () => {
    // 1600 × 1000 is detected at 960 × 608: boxes must come back scaled to the original.
    const big: RenderOptions = { width: 1600, height: 1000 };
    const bigLines: TextLine[] = [
      { text: 'Hello World 2026', x: 80, y: 200, size: 96 },
      { text: 'Quick Queries', x: 900, y: 420, size: 72 },
      { text: 'Durable async inference', x: 100, y: 640, size: 56 },
    ];
    const result = await detect(await renderText(bigLines, big));
    expect([result.width, result.height]).toEqual([1600, 1000]);
    expect(result.boxes).toHaveLength(3);
    for (const [i, box] of result.boxes.entries()) {
      const { size } = bigLines[i]!;
      const ink = await inkBounds(bigLines[i]!, big);
      const xs = box.points.map((p) => p[0]);
      const ys = box.points.map((p) => p[1]);
      // Each side within 10 % of the font size inside the ink (DB boxes hug round glyph ends)
      // and 40 % outside it; a box not mapped back from 960 × 608 would be off by hundreds.
      for (const [boxSide, inkSide, outward] of [
        [Math.min(...xs), ink.x0, -1],
        [Math.max(...xs), ink.x1, 1],
        [Math.min(...ys), ink.y0, -1],
        [Math.max(...ys), ink.y1, 1],
      ] as const) {
        expect((boxSide - inkSide) * outward).toBeGreaterThan(-0.1 * size);
        expect((boxSide - inkSide) * outward).toBeLessThan(0.4 * size);
      }
      // Integer corners, clockwise from the top-left; the score is DB's mean probability.
      const [tl, tr, br, bl] = box.points;
      expect(box.points.flat().every(Number.isInteger)).toBe(true);
      expect(tl[0]).toBeLessThan(tr[0]);
      expect(bl[0]).toBeLessThan(br[0]);
      expect(tl[1]).toBeLessThan(bl[1]);
      expect(tr[1]).toBeLessThan(br[1]);
      expect(box.score).toBeGreaterThan(0.6);
      expect(box.score).toBeLessThanOrEqual(1);
    }
  });

  it('reads the exact text of every line (det → crop → rec)', async () => {
    const { texts, labels } = await readAll(await renderText(lines, canvas));
    expect(texts.map((t) => t.text)).toEqual([
      'Hello World 2026',
      'Durable async inference',
      'The quick brown fox jumps',
      'PaddleOCR in TypeScript',
    ]);
    for (const t of texts) expect(t.confidence).toBeGreaterThan(0.9);
    expect(labels.map((l) => l.label)).toEqual(['0', '0', '0', '0']);
  });

  it('keeps the spaces between the words of small Latin lines (the space evidence of the CTC head)', async () => {
    // Below ~44 px the recogniser's best path drops these spaces ("overthelazydog12345");
    // the space class still peaks in the gaps, and ocr-rec's spaceThreshold reads it.
    const small: TextLine[] = [
      { text: 'over the lazy dog 12345', x: 30, y: 50, size: 24 },
      { text: 'Open daily from nine to five', x: 30, y: 110, size: 28, font: 'Liberation Serif' },
      { text: 'No parking in front of the gate', x: 30, y: 180, size: 32, font: 'Liberation Sans' },
    ];
    const { texts } = await readAll(await renderText(small, { width: 700, height: 220 }));
    expect(texts.map((t) => t.text)).toEqual(small.map((l) => l.text));
  });

  it('finds nothing in a blank image', async () => {
    expect(await detect(await blankImage(640, 480))).toEqual({ width: 640, height: 480, boxes: [] });
  });
});

describe('ocr-cls', () => {
  it('says 180 for an upside-down line and 0 for an upright one; turned over, the line reads right', async () => {
    const png = await renderText(
      [
        { text: 'Upright words here', x: 60, y: 100, size: 48 },
        { text: 'Upside down text', x: 560, y: 260, size: 48, rotate: 180 },
      ],
      { width: 700, height: 320 },
    );
    const { labels, texts } = await readAll(png);
    expect(labels.map((l) => l.label)).toEqual(['0', '180']);
    for (const l of labels) expect(l.confidence).toBeGreaterThan(0.9);
    expect(texts.map((t) => t.text)).toEqual(['Upright words here', 'Upside down text']);
  });
});

describe('ocr-rec batches', () => {
  it('keeps the input order, fails a bad item alone, and reads PNG bytes like raw pixels', async () => {
    const png = await renderText(lines, canvas);
    const { boxes } = await detect(png);
    const image = await decodeImage({ bytes: png });
    const crops: RawImage[] = boxes.map((b) => cropQuad(image, b.points));
    // Widest line first: the recogniser sorts by aspect ratio internally and must restore the order.
    const results = await rec.predict([
      { image: crops[1]! },
      { bytes: Buffer.from('not a png') },
      { bytes: await encodePng(crops[0]!) },
      { image: crops[3]! },
    ]);
    expect(results.map((r) => (r.ok ? (r.output as RecognizedText).text : r.error.code))).toEqual([
      'Durable async inference',
      'INFERQ_INPUT_UNDECODABLE',
      'Hello World 2026',
      'PaddleOCR in TypeScript',
    ]);
  });
});

describe('photographs (skimage data)', () => {
  it('reads the heading of a photographed book page', async ({ skip }) => {
    skip(testImagesMissing !== undefined, testImagesMissing);
    const { boxes, texts } = await readAll(testImage('page.png'));
    expect(boxes.length).toBeGreaterThanOrEqual(4);
    const tops = boxes.map((b) => b.points[0][1]);
    expect(tops).toEqual([...tops].sort((a, b) => a - b));
    expect(texts[0]!.text).toBe('Region-based segmentation');
    expect(texts.slice(1).map((t) => t.text)).toContain(
      'Let us first determine markers of the coins and the',
    );
  });

  it('reads all ten lines of a printed paragraph', async ({ skip }) => {
    skip(testImagesMissing !== undefined, testImagesMissing);
    const { texts } = await readAll(testImage('bw_text.png'));
    expect(texts.map((t) => t.text)).toEqual([
      'Men may seem detestable as joint',
      'stock-companies and nations; knaves,',
      'fools, and murderers there may be;',
      'men may have mean and meagre',
      'faces; but, man, in the ideal, is so',
      'noble and so sparkling, such a grand',
      'and glowing creature, that over any',
      'ignominious blemish in him all his',
      'fellows should run to throw their',
      'costliest robes.',
    ]);
  });

  it('finds no text in a photograph without any', async ({ skip }) => {
    skip(testImagesMissing !== undefined, testImagesMissing);
    expect((await detect(testImage('chelsea.png'))).boxes).toEqual([]);
  });
});
