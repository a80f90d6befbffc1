/**
 * sharp's own default pixel limit (0x3FFF × 0x3FFF, about 268 megapixels), its
 * decompression-bomb guard: an image model that declares no `maxPixels` decodes at most this many.
 */
export const sharpDefaultMaxPixels = 0x3fff * 0x3fff;

/**
 * The most pixels an image model decodes: its spec's `maxPixels` (which lifts or lowers sharp's
 * guard, as the worker passes it on as `limitInputPixels`) or sharp's default. Submission and
 * worker judge images by this one rule, so an image the worker would refuse as too large is a
 * 413 at submission, never a 422 "undecodable".
 */
export function imagePixelLimit(maxPixels: number | undefined): number {
  return maxPixels ?? sharpDefaultMaxPixels;
}
