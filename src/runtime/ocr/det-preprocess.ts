import { resizeBilinear } from '../image/resize-bilinear.js';
import { roundHalfEven } from '../image/round-half-even.js';
import type { RawImage } from '../runtime.js';

/** Which side `limitSideLen` bounds: `max` shrinks big images, `min` enlarges small ones. */
export type LimitType = 'max' | 'min';

/**
 * The detector's input size, as PaddleOCR's `DetResizeForTest` (type 0): scale so the long
 * side is at most `limitSideLen` (or the short side at least, for `min`), then round each
 * side to a multiple of 32 (the network down-samples 32×), never below 32. The aspect ratio
 * moves a little; post-processing maps each axis back with its own ratio.
 */
export function detInputSize(
  width: number,
  height: number,
  limitSideLen = 960,
  limitType: LimitType = 'max',
): { width: number; height: number } {
  let ratio = 1;
  if (limitType === 'max' && Math.max(width, height) > limitSideLen) {
    ratio = limitSideLen / Math.max(width, height);
  } else if (limitType === 'min' && Math.min(width, height) < limitSideLen) {
    ratio = limitSideLen / Math.min(width, height);
  }
  const to32 = (side: number) => Math.max(roundHalfEven(Math.trunc(side * ratio) / 32) * 32, 32);
  return { width: to32(width), height: to32(height) };
}

// ImageNet statistics, applied to channels in the order cv2 decodes them (B, G, R): that is
// how PaddleOCR trained and runs its detectors, "mean 0.485" lands on blue.
const mean = [0.485, 0.456, 0.406] as const;
const std = [0.229, 0.224, 0.225] as const;

/** The detector's input: the tensor, its size, and the border added on each side (pixels). */
export interface DetInput {
  tensor: Float32Array;
  width: number;
  height: number;
  pad: number;
}

/**
 * Turns RGB pixels into the detector's `[1, 3, H, W]` float input: resized (see
 * {@link detInputSize}), BGR planes, `(v / 255 − mean) / std`, then framed by `pad` pixels on
 * every side in the image's edge colour (the mean of its outermost pixels). `pad` must keep
 * the sides multiples of 32, so it is a multiple of 16.
 *
 * Why the frame: the DB detector finds a text line by its boundary with the background, so
 * text that fills the image edge to edge (a tight crop, a word photographed close up) leaves
 * its map near zero at the borders and the line is lost or cut. The frame gives every line a
 * margin; boxes are mapped back and clamped to the image (db-postprocess.ts).
 */
export function detPreprocess(
  image: RawImage,
  limitSideLen = 960,
  limitType: LimitType = 'max',
  pad = 0,
): DetInput {
  if (pad < 0 || pad % 16 !== 0) throw new RangeError(`pad must be a multiple of 16, got ${pad}`);
  const target = detInputSize(image.width, image.height, limitSideLen, limitType);
  const resized = resizeBilinear(image, target.width, target.height);
  const width = target.width + 2 * pad;
  const height = target.height + 2 * pad;
  const plane = width * height;
  const tensor = new Float32Array(3 * plane);
  const { data } = resized;
  const edge = edgeColour(resized);
  for (let c = 0; c < 3; c++) {
    // Plane c is BGR channel c, which is RGB channel 2 − c.
    const rgb = 2 - c;
    const offset = c * plane;
    if (pad > 0) tensor.fill((edge[rgb]! / 255 - mean[c]!) / std[c]!, offset, offset + plane);
    for (let y = 0; y < target.height; y++) {
      const row = offset + (y + pad) * width + pad;
      const src = y * target.width * 3 + rgb;
      for (let x = 0; x < target.width; x++) {
        tensor[row + x] = (data[src + x * 3]! / 255 - mean[c]!) / std[c]!;
      }
    }
  }
  return { tensor, width, height, pad };
}

/** Mean RGB of the outermost ring of pixels. */
function edgeColour(image: RawImage): [number, number, number] {
  const { data, width, height } = image;
  const sum = [0, 0, 0];
  let n = 0;
  const add = (x: number, y: number) => {
    const i = (y * width + x) * 3;
    sum[0]! += data[i]!;
    sum[1]! += data[i + 1]!;
    sum[2]! += data[i + 2]!;
    n++;
  };
  for (let x = 0; x < width; x++) {
    add(x, 0);
    if (height > 1) add(x, height - 1);
  }
  for (let y = 1; y < height - 1; y++) {
    add(0, y);
    if (width > 1) add(width - 1, y);
  }
  return [sum[0]! / n, sum[1]! / n, sum[2]! / n];
}
