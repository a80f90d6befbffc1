import type { BlobStore } from '../../blobs/blob-store.js';
import type { TransformName } from '../../core/pipeline-types.js';
import type { TaskInput } from '../../core/task.js';
import { InferqError } from '../../errors/index.js';
import { decodeImage, encodePng } from '../../runtime/image/decode-image.js';
import { cropQuad, rotate180 } from '../../runtime/ocr/crop-quad.js';
import type { Point } from '../../runtime/ocr/geometry.js';
import { dropScore, lineReadings } from '../../runtime/ocr/orientation.js';
import type { RawImage } from '../../runtime/runtime.js';
import type { PixelThread } from './pipeline-pixel-worker.js';
import type { PipelinePixels } from './pipeline-pixels.js';

/** What a transform works with besides its arguments. */
export interface TransformContext {
  blobs: BlobStore;
  /** Decoded pixels of this process's recent images, by blob sha256 (spares PNG decodes). */
  pixels?: PipelinePixels;
  /** Runs the per-pixel work off the event loop; without it, it runs in line. */
  pixelThread?: PixelThread;
}

/**
 * A built-in transform: pure in its inputs (the same inputs give the same output, blobs
 * included, since they are content-addressed), so a coordinator that redoes one after a crash
 * produces what the first try produced. `args` are the step's sources, in `from` order (one
 * item of each list for a map step); `null` stands for a failed item of an optional step.
 */
export type Transform = (args: readonly unknown[], context: TransformContext) => Promise<unknown>;

/** The line of `ocr-assemble`'s result. */
export interface OcrLine {
  text: string;
  confidence: number;
  /** The detected quadrilateral, clockwise from the top-left, in input image pixels. */
  box: Point[];
  /** Set when the recogniser rejected this line's crop; `text` is then empty. */
  unreadable?: true;
  /** Set when `confidence` is below 0.5 (PaddleOCR's drop_score): the line is left out of `text`. */
  lowConfidence?: true;
}

/**
 * Implementations of `transformSignatures` (core/pipeline-types.ts), keyed by its names: one
 * missing here, or one here with no signature, fails the type check.
 */
export const transforms: Readonly<Record<TransformName, Transform>> = {
  'crop-quads': async ([image, det], context) => {
    const boxes = boxesOf(det);
    if (boxes.length === 0) return [];
    const pixels = await readImage(context, image);
    const crops = context.pixelThread
      ? await context.pixelThread.crop(pixels, boxes)
      : boxes.map((points) => cropQuad(pixels, points));
    // Encoded and stored concurrently: the encodes run on libuv's pool, and a store that
    // group-commits (the SQLite inline store) writes all of an image's crops in one commit.
    return Promise.all(crops.map((crop) => putImage(context, crop)));
  },
  'rotate-180': async ([crop, direction], context) => {
    // Turned only on a confident "180" (orientation.ts); otherwise the crop goes on as it is.
    if (lineReadings(direction).first !== 'turned') return crop;
    return putImage(context, await turn(context, crop));
  },
  'rotate-180-other': async ([crop, direction], context) => {
    // The second reading of a line the classifier could be wrong about, the other way round
    // from rotate-180's; `null`: no second reading.
    const { second } = lineReadings(direction);
    if (second === undefined) return null;
    if (second === 'as-is') return crop;
    return putImage(context, await turn(context, crop));
  },
  'ocr-assemble': async ([det, texts, secondTexts]) => {
    const boxes = boxesOf(det);
    const read = Array.isArray(texts) ? texts : [];
    const second = Array.isArray(secondTexts) ? secondTexts : [];
    const lines: OcrLine[] = boxes.map((box, i) => {
      const line = moreConfident(asReading(read[i]), asReading(second[i]));
      if (line === undefined) return { text: '', confidence: 0, box, unreadable: true };
      return line.confidence < dropScore ? { ...line, box, lowConfidence: true } : { ...line, box };
    });
    return {
      text: lines
        .filter((l) => l.text !== '' && !l.lowConfidence)
        .map((l) => l.text)
        .join('\n'),
      lines,
    };
  },
};

type Reading = { text: string; confidence: number };

function asReading(value: unknown): Reading | undefined {
  const line = value as { text?: unknown; confidence?: unknown } | null | undefined;
  if (line === null || line === undefined || typeof line.text !== 'string') return undefined;
  return { text: line.text, confidence: Number(line.confidence ?? 0) };
}

/** The line's first reading, or its second where that one is the more confident. */
function moreConfident(first: Reading | undefined, second: Reading | undefined): Reading | undefined {
  if (second === undefined) return first;
  if (first === undefined) return second;
  return second.confidence > first.confidence ? second : first;
}

function boxesOf(det: unknown): Point[][] {
  const boxes = (det as { boxes?: unknown } | null)?.boxes;
  if (!Array.isArray(boxes)) {
    throw new InferqError('INFERQ_VALIDATION_FAILED', 'a detection result must have a "boxes" list');
  }
  return boxes.map((b: { points?: Point[] }) => b.points ?? []);
}

function blobRef(value: unknown): TaskInput {
  const ref = value as Partial<TaskInput> | null;
  if (typeof ref?.sha256 !== 'string') {
    throw new InferqError('INFERQ_VALIDATION_FAILED', 'an image step input must be a stored blob');
  }
  return { sha256: ref.sha256, size: Number(ref.size ?? 0), mediaType: String(ref.mediaType ?? '') };
}

/** The pixels of a stored image: kept ones when this process made it, else the blob decoded. */
/** The crop turned 180°, on the pixel thread where the coordinator has one (off its event loop). */
async function turn(context: TransformContext, crop: unknown): Promise<RawImage> {
  const pixels = await readImage(context, crop);
  return context.pixelThread ? context.pixelThread.rotate180(pixels) : rotate180(pixels);
}

async function readImage({ blobs, pixels }: TransformContext, value: unknown): Promise<RawImage> {
  const { sha256 } = blobRef(value);
  const kept = pixels?.take(sha256);
  if (kept !== undefined) return kept;
  const bytes = await blobs.readBytes(sha256);
  return decodeImage({ bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) });
}

/**
 * Stores an image as PNG, the blob a step in any process (or a redo after a crash) reads, and
 * keeps its pixels for the steps that run in this one.
 */
async function putImage({ blobs, pixels }: TransformContext, image: RawImage): Promise<TaskInput> {
  const blob = await blobs.put(await encodePng(image));
  pixels?.put(blob.sha256, image);
  return { sha256: blob.sha256, size: blob.size, mediaType: blob.mediaType };
}
