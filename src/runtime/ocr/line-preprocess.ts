import { resizeBilinear } from '../image/resize-bilinear.js';
import type { RawImage } from '../runtime.js';

/**
 * Packs text-line images into one `[n, 3, height, paddedWidth]` float tensor, as
 * PaddleOCR's `resize_norm_img` does for the recogniser and the direction classifier: each
 * line scaled to `height` keeping its aspect ratio (`ceil(height × w / h)`, squeezed to
 * `paddedWidth` when longer), BGR planes normalised to [−1, 1], and the rest of the row
 * zero-filled (zero is mid-grey after normalisation, exactly what the models were trained with).
 */
export function lineTensor(images: readonly RawImage[], height: number, paddedWidth: number): Float32Array {
  const plane = height * paddedWidth;
  const tensor = new Float32Array(images.length * 3 * plane);
  const resized = images.map((image) => resizeBilinear(image, lineWidth(image, height, paddedWidth), height));
  for (const [n, line] of resized.entries()) {
    const base = n * 3 * plane;
    const { data, width } = line;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const pixel = (y * width + x) * 3;
        const offset = base + y * paddedWidth + x;
        for (let c = 0; c < 3; c++) {
          tensor[offset + c * plane] = data[pixel + (2 - c)]! / 127.5 - 1;
        }
      }
    }
  }
  return tensor;
}

/** Width a line is scaled to before padding. */
export function lineWidth(
  image: { width: number; height: number },
  height: number,
  paddedWidth: number,
): number {
  const scaled = Math.ceil(height * (image.width / image.height));
  return Math.min(scaled, paddedWidth);
}

/**
 * Padded width for a group of recogniser lines: wide enough for the widest aspect ratio in
 * the group, and never narrower than `minWidth` (PaddleOCR starts from 320 for a 48-px height).
 */
export function recBatchWidth(
  images: readonly { width: number; height: number }[],
  height: number,
  minWidth: number,
): number {
  let maxRatio = minWidth / height;
  for (const image of images) maxRatio = Math.max(maxRatio, image.width / image.height);
  return Math.trunc(height * maxRatio);
}
