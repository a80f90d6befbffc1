import sharp from 'sharp';
import type { BlobInfo, BlobStore } from '../../blobs/blob-store.js';
import type { CatalogEntry } from '../../core/model-catalog.js';
import { InferqError } from '../../errors/index.js';

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
 * Checks a stored input against every target: media type from the sniffed bytes (415), and
 * for image models that the header decodes and the pixel count is within `maxPixels` (422 /
 * 413). Reading the header only keeps this cheap; a body corrupt past its header fails later,
 * in the worker, with the same code.
 */
export async function checkInput(
  blobs: BlobStore,
  blob: BlobInfo,
  entries: readonly CatalogEntry[],
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
  if (imageEntries.length === 0) return;
  let pixels: number;
  try {
    const meta = await sharp(await blobs.readBytes(blob.sha256)).metadata();
    pixels = (meta.width ?? 0) * (meta.height ?? 0);
    if (pixels === 0) throw new Error('no dimensions');
  } catch (cause) {
    throw new InferqError(
      'INFERQ_INPUT_UNDECODABLE',
      `the ${blob.mediaType} input cannot be decoded as an image`,
      {
        cause,
        details: { mediaType: blob.mediaType, sha256: blob.sha256 },
      },
    );
  }
  for (const entry of imageEntries) {
    const maxPixels = entry.kind === 'model' ? entry.spec.input.maxPixels : undefined;
    if (maxPixels !== undefined && pixels > maxPixels) {
      throw new InferqError(
        'INFERQ_INPUT_TOO_LARGE',
        `${entry.name} takes images up to ${maxPixels} pixels`,
        {
          details: { limit: maxPixels, pixels, target: entry.name },
        },
      );
    }
  }
}
