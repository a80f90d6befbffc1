import sharp from 'sharp';
import type { BlobInfo, BlobStore } from '../../blobs/blob-store.js';
import type { CatalogEntry } from '../../core/model-catalog.js';
import { InferqError } from '../../errors/index.js';
import { imagePixelLimit } from '../../runtime/image/pixel-limit.js';

/** What a model accepts when its spec names no media types: judged by its input kind. */
function acceptsByKind(kind: string, mediaType: string): boolean {
  switch (kind) {
    case 'image':
      return mediaType.startsWith('image/');
    case 'text':
      return mediaType === 'text/plain' || mediaType === 'application/json';
    case 'json':
      return mediaType === 'application/json';
    default:
      return true;
  }
}

function matches(pattern: string, mediaType: string): boolean {
  return pattern.endsWith('/*') ? mediaType.startsWith(pattern.slice(0, -1)) : pattern === mediaType;
}

/** The byte limit of one input for these targets: the smallest of theirs and the server's. */
export function inputByteLimit(entries: readonly CatalogEntry[], serverMaxBytes: number): number {
  let limit = serverMaxBytes;
  for (const entry of entries) {
    if (entry.kind === 'model' && entry.spec.input.maxBytes !== undefined) {
      limit = Math.min(limit, entry.spec.input.maxBytes);
    }
  }
  return limit;
}

/**
 * Decodes every pixel row of an image the way the worker will (`failOn: 'error'`), keeping
 * none: a sequential read that returns the last row's first pixel, so memory stays a few rows
 * whatever the size (about 2-4 ms for a 1200 × 1600 page on the 2-core VM, on sharp's threads,
 * not the event loop). A truncated or corrupt body fails here, at submission, instead of in the
 * worker after the task was queued.
 */
async function decodeAllRows(bytes: Buffer, height: number, maxPixels: number): Promise<void> {
  await sharp(bytes, { failOn: 'error', sequentialRead: true, limitInputPixels: maxPixels })
    .extract({ left: 0, top: height - 1, width: 1, height: 1 })
    .raw()
    .toBuffer();
}

/**
 * Checks a stored input against every target: media type from the sniffed bytes (415), and
 * for image models that the header decodes, the pixel count is within `maxPixels`, or sharp's
 * own limit where the model sets none (413, see imagePixelLimit), and
 * then that the whole body decodes (422): pixel limits are judged from the header, before any
 * pixel is decoded.
 */
export async function checkInput(
  blobs: BlobStore,
  blob: BlobInfo,
  entries: readonly CatalogEntry[],
): Promise<void> {
  await checkInputBytes(blob, () => blobs.readBytes(blob.sha256), entries, { images: true });
}

/**
 * {@link checkInput} over bytes from anywhere (the fast path holds them in memory and stores
 * nothing). `images: false` checks bytes and media type only and leaves the pixel limit and
 * the decode to the worker, which runs at once and enforces both before decoding a pixel
 * (`limitInputPixels`, src/runtime/image/decode-image.ts): a fast request that breaks them gets
 * the same 413 / 422 as its own answer, without a second decode on the API's thread.
 */
export async function checkInputBytes(
  blob: { size: number; mediaType: string; sha256?: string },
  read: () => Promise<Buffer>,
  entries: readonly CatalogEntry[],
  options: { images: boolean },
): Promise<void> {
  for (const entry of entries) {
    if (entry.kind !== 'model') continue;
    const { input } = entry.spec;
    if (input.maxBytes !== undefined && blob.size > input.maxBytes) {
      throw new InferqError(
        'INFERQ_INPUT_TOO_LARGE',
        `${entry.name} takes inputs up to ${input.maxBytes} bytes`,
        {
          details: { limit: input.maxBytes, size: blob.size, target: entry.name },
        },
      );
    }
    const accepted = input.mediaTypes
      ? input.mediaTypes.some((p) => matches(p, blob.mediaType))
      : acceptsByKind(input.kind, blob.mediaType);
    if (!accepted) {
      throw new InferqError(
        'INFERQ_MEDIA_TYPE_UNSUPPORTED',
        `${entry.name} does not accept ${blob.mediaType} (judged from the bytes); it takes ${
          input.mediaTypes?.join(', ') ?? `${input.kind} inputs`
        }`,
        {
          details: {
            mediaType: blob.mediaType,
            accepted: input.mediaTypes ?? [input.kind],
            target: entry.name,
          },
        },
      );
    }
  }
  const imageEntries = entries.filter((e) => e.kind === 'model' && e.spec.input.kind === 'image');
  if (imageEntries.length === 0 || !options.images) return;
  const undecodable = (cause: unknown) =>
    new InferqError('INFERQ_INPUT_UNDECODABLE', `the ${blob.mediaType} input cannot be decoded as an image`, {
      cause,
      details: { mediaType: blob.mediaType, ...(blob.sha256 === undefined ? {} : { sha256: blob.sha256 }) },
    });
  const bytes = await read();
  let pixels: number;
  let height: number;
  try {
    // Header only, no pixel decoded: sharp's pixel guard off here, so that an image over it is
    // measured and answered 413 below, not mistaken for an undecodable one.
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    // A multi-page image (GIF, TIFF) is read as its first page, as the worker reads it.
    height = Math.min(meta.pageHeight ?? meta.height ?? 0, meta.height ?? 0);
    pixels = (meta.width ?? 0) * height;
    if (pixels === 0) throw new Error('no dimensions');
  } catch (cause) {
    throw undecodable(cause);
  }
  let decodeLimit = Number.POSITIVE_INFINITY;
  for (const entry of imageEntries) {
    const maxPixels = imagePixelLimit(entry.kind === 'model' ? entry.spec.input.maxPixels : undefined);
    decodeLimit = Math.min(decodeLimit, maxPixels);
    if (pixels > maxPixels) {
      throw new InferqError(
        'INFERQ_INPUT_TOO_LARGE',
        `${entry.name} takes images up to ${maxPixels} pixels`,
        {
          details: { limit: maxPixels, pixels, target: entry.name },
        },
      );
    }
  }
  try {
    await decodeAllRows(bytes, height, decodeLimit);
  } catch (cause) {
    throw undecodable(cause);
  }
}
