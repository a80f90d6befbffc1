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

/**
 * Turns RGB pixels into the detector's `[1, 3, H, W]` float input: resized (see
 * {@link detInputSize}), BGR planes, `(v / 255 − mean) / std`.
 */
export function detPreprocess(
  image: RawImage,
  limitSideLen = 960,
  limitType: LimitType = 'max',
): { tensor: Float32Array; width: number; height: number } {
  const target = detInputSize(image.width, image.height, limitSideLen, limitType);
  const resized = resizeBilinear(image, target.width, target.height);
  const plane = target.width * target.height;
  const tensor = new Float32Array(3 * plane);
  const { data } = resized;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      // Plane c is BGR channel c, which is RGB channel 2 − c.
      tensor[c * plane + i] = (data[i * 3 + (2 - c)]! / 255 - mean[c]!) / std[c]!;
    }
  }
  return { tensor, width: target.width, height: target.height };
}
