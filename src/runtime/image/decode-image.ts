import sharp, { type OutputInfo, type Sharp } from 'sharp';
import { InferqError } from '../../errors/index.js';
import type { ModelInput, RawImage } from '../runtime.js';
import { sharpDefaultMaxPixels as defaultMaxPixels } from './pixel-limit.js';

/**
 * Decodes an image input to 8-bit RGB pixels as a user sees the picture: EXIF orientation
 * applied (so box coordinates match what a viewer shows), transparency composited on white
 * (PaddleOCR's `alpha_to_color`; a transparent PNG would otherwise come out black), grey
 * expanded to three channels.
 *
 * @throws InferqError `INFERQ_INPUT_UNDECODABLE` (not an image), `INFERQ_INPUT_TOO_LARGE`
 *   (more than `maxPixels`).
 */
export async function decodeImage(input: ModelInput, maxPixels = defaultMaxPixels): Promise<RawImage> {
  // Pixels handed over in-process (a pipeline's crops) are RGB already: nothing to convert,
  // and a round trip through sharp would cost more than the PNG decode it spares.
  if ('image' in input && input.image.channels === 3) {
    const { image } = input;
    checkRaw(image, maxPixels);
    return image;
  }
  try {
    const { data, info } = await imagePipeline(input, maxPixels)
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), ...size(info) };
  } catch (cause) {
    throw imageError(cause, maxPixels);
  }
}

/**
 * Decodes a batch concurrently (sharp decodes on its own thread pool): one result per input,
 * in order, a failed decode (an `InferqError` as {@link decodeImage} throws it) failing only its
 * own item.
 */
export async function decodeImages(
  inputs: readonly ModelInput[],
  maxPixels = defaultMaxPixels,
): Promise<Array<{ ok: true; image: RawImage } | { ok: false; error: unknown }>> {
  const settled = await Promise.allSettled(inputs.map((input) => decodeImage(input, maxPixels)));
  return settled.map((s) =>
    s.status === 'fulfilled' ? { ok: true, image: s.value } : { ok: false, error: s.reason },
  );
}

/**
 * Encodes pixels as PNG (handy for storing OCR crops as blobs, and for debugging). zlib level 3,
 * not sharp's 6: on a text-line crop it encodes about 5× faster for about 6% more bytes, and a
 * pipeline encodes every crop it stores.
 */
export async function encodePng(image: RawImage): Promise<Buffer> {
  return sharp(image.data, { raw: rawInfo(image) })
    .png({ compressionLevel: 3 })
    .toBuffer();
}

function imagePipeline(input: ModelInput, maxPixels: number): Sharp {
  if ('bytes' in input) {
    if (input.bytes.byteLength === 0) throw new InferqError('INFERQ_INPUT_EMPTY', 'the image has no bytes');
    return sharp(input.bytes, { limitInputPixels: maxPixels, failOn: 'error' }).autoOrient();
  }
  if ('image' in input) {
    const { image } = input;
    checkRaw(image, maxPixels);
    return sharp(image.data, { raw: rawInfo(image) });
  }
  throw new InferqError('INFERQ_INPUT_UNDECODABLE', 'this model takes an image (bytes or decoded pixels)');
}

function checkRaw(image: RawImage, maxPixels: number): void {
  if (image.width * image.height > maxPixels) throw tooLarge(image.width * image.height, maxPixels);
  if (image.data.byteLength !== image.width * image.height * image.channels) {
    throw new InferqError(
      'INFERQ_INPUT_UNDECODABLE',
      `raw image data has ${image.data.byteLength} bytes, not width × height × channels${image.data.byteLength === 0 ? ' (was it transferred to an earlier predict call without keepInputs?)' : ''}`,
      {
        details: { width: image.width, height: image.height, channels: image.channels },
      },
    );
  }
}

function imageError(cause: unknown, maxPixels: number): InferqError {
  if (cause instanceof InferqError) return cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  if (/pixel limit/i.test(message)) {
    return new InferqError('INFERQ_INPUT_TOO_LARGE', `the image has more than ${maxPixels} pixels`, {
      cause,
      details: { maxPixels },
    });
  }
  return new InferqError('INFERQ_INPUT_UNDECODABLE', `the image cannot be decoded: ${message}`, { cause });
}

function tooLarge(pixels: number, maxPixels: number): InferqError {
  return new InferqError('INFERQ_INPUT_TOO_LARGE', `the image has ${pixels} pixels, more than ${maxPixels}`, {
    details: { pixels, maxPixels },
  });
}

function rawInfo(image: RawImage): { width: number; height: number; channels: 1 | 2 | 3 | 4 } {
  if (![1, 2, 3, 4].includes(image.channels)) throw new RangeError(`${image.channels} channels`);
  return { width: image.width, height: image.height, channels: image.channels as 1 | 2 | 3 | 4 };
}

function size(info: OutputInfo): { width: number; height: number; channels: number } {
  return { width: info.width, height: info.height, channels: info.channels };
}
