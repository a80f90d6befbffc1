import type { RawImage } from '../runtime.js';
import type { Point } from './geometry.js';

/** Options of {@link cropQuad}. */
export interface CropQuadOptions {
  /**
   * Turn crops at least 1.5× taller than wide a quarter turn counter-clockwise (PaddleOCR
   * does, taking them for vertical text lines the recogniser can only read horizontally).
   * Default true.
   */
  rotateTall?: boolean;
}

/**
 * Cuts a quadrilateral (TL, TR, BR, BL, as `ocr-det` returns boxes) out of an image and
 * straightens it into a rectangle: a perspective warp with bicubic sampling and replicated
 * borders, as PaddleOCR's `get_rotate_crop_image` (`cv2.warpPerspective`, `INTER_CUBIC`,
 * `BORDER_REPLICATE`). The crop is as wide as the longer of the top and bottom edges and as
 * tall as the longer of the left and right edges. Works for any channel count.
 */
export function cropQuad(image: RawImage, quad: readonly Point[], options: CropQuadOptions = {}): RawImage {
  if (quad.length !== 4) throw new RangeError(`a quadrilateral has 4 points, got ${quad.length}`);
  const [p0, p1, p2, p3] = quad as [Point, Point, Point, Point];
  const width = Math.max(1, Math.trunc(Math.max(dist(p0, p1), dist(p2, p3))));
  const height = Math.max(1, Math.trunc(Math.max(dist(p0, p3), dist(p1, p2))));
  const crop = isPixelRect(p0, p1, p2, p3)
    ? copyRect(image, p0[0], p0[1], width, height)
    : warp(image, [p0, p1, p2, p3], width, height);
  return (options.rotateTall ?? true) && height / width >= 1.5 ? rotate90CounterClockwise(crop) : crop;
}

/**
 * An upright rectangle on whole pixels (most boxes `ocr-det` finds in a scan or a rendered
 * page): the warp is then a whole-pixel shift, every bicubic sample lands on a pixel centre
 * (weights 0, 1, 0, 0) and the crop is a plain copy of those pixels, borders replicated, which
 * is what {@link warp} computes, at a fraction of the cost.
 */
function isPixelRect(p0: Point, p1: Point, p2: Point, p3: Point): boolean {
  return (
    [p0, p1, p2, p3].every(([x, y]) => Number.isInteger(x) && Number.isInteger(y)) &&
    p0[1] === p1[1] &&
    p2[1] === p3[1] &&
    p0[0] === p3[0] &&
    p1[0] === p2[0] &&
    p1[0] > p0[0] &&
    p3[1] > p0[1]
  );
}

function copyRect(image: RawImage, left: number, top: number, width: number, height: number): RawImage {
  const { data, channels } = image;
  const out = new Uint8Array(width * height * channels);
  const inside = left >= 0 && left + width <= image.width;
  for (let v = 0; v < height; v++) {
    const sy = Math.min(image.height - 1, Math.max(0, top + v));
    const row = sy * image.width;
    if (inside) {
      const from = (row + left) * channels;
      out.set(data.subarray(from, from + width * channels), v * width * channels);
      continue;
    }
    for (let u = 0; u < width; u++) {
      const from = (row + Math.min(image.width - 1, Math.max(0, left + u))) * channels;
      const to = (v * width + u) * channels;
      for (let c = 0; c < channels; c++) out[to + c] = data[from + c]!;
    }
  }
  return { data: out, width, height, channels };
}

/** The perspective warp of the quad onto a `width` × `height` rectangle, bicubic (OpenCV's). */
function warp(image: RawImage, quad: readonly Point[], width: number, height: number): RawImage {
  const [p0, p1, p2, p3] = quad as [Point, Point, Point, Point];
  const h = homography(
    [
      [0, 0],
      [width, 0],
      [width, height],
      [0, height],
    ],
    [p0, p1, p2, p3],
  );
  const { channels } = image;
  const out = new Uint8Array(width * height * channels);
  const sample = new Float64Array(channels);
  for (let v = 0; v < height; v++) {
    for (let u = 0; u < width; u++) {
      const w = h[6]! * u + h[7]! * v + 1;
      // OpenCV's warpPerspective snaps source positions to 1/32 px (INTER_TAB_SIZE).
      const x = Math.round(((h[0]! * u + h[1]! * v + h[2]!) / w) * subpixels) / subpixels;
      const y = Math.round(((h[3]! * u + h[4]! * v + h[5]!) / w) * subpixels) / subpixels;
      bicubic(image, x, y, sample);
      const base = (v * width + u) * channels;
      for (let c = 0; c < channels; c++) out[base + c] = Math.min(255, Math.max(0, Math.round(sample[c]!)));
    }
  }
  return { data: out, width, height, channels };
}

/** `np.rot90(image)`: a quarter turn counter-clockwise. */
export function rotate90CounterClockwise(image: RawImage): RawImage {
  const { width, height, channels, data } = image;
  const out = new Uint8Array(data.length);
  // Output is `height` wide and `width` tall; output row i is input column width−1−i.
  for (let i = 0; i < width; i++) {
    for (let j = 0; j < height; j++) {
      const from = (j * width + (width - 1 - i)) * channels;
      const to = (i * height + j) * channels;
      for (let c = 0; c < channels; c++) out[to + c] = data[from + c]!;
    }
  }
  return { data: out, width: height, height: width, channels };
}

/** A half turn, for lines `ocr-cls` says are upside down. */
export function rotate180(image: RawImage): RawImage {
  const { data, channels } = image;
  const out = new Uint8Array(data.length);
  const pixels = image.width * image.height;
  for (let p = 0; p < pixels; p++) {
    const from = p * channels;
    const to = (pixels - 1 - p) * channels;
    for (let c = 0; c < channels; c++) out[to + c] = data[from + c]!;
  }
  return { ...image, data: out };
}

/**
 * The 3×3 projective map (h8 = 1) taking each `from` point to its `to` point, by solving the
 * standard 8×8 linear system.
 */
export function homography(from: readonly Point[], to: readonly Point[]): number[] {
  const a: number[][] = [];
  for (let i = 0; i < 4; i++) {
    const [x, y] = from[i]!;
    const [X, Y] = to[i]!;
    a.push([x, y, 1, 0, 0, 0, -x * X, -y * X, X]);
    a.push([0, 0, 0, x, y, 1, -x * Y, -y * Y, Y]);
  }
  // Gaussian elimination with partial pivoting on the augmented matrix.
  for (let col = 0; col < 8; col++) {
    let pivot = col;
    for (let r = col + 1; r < 8; r++) if (Math.abs(a[r]![col]!) > Math.abs(a[pivot]![col]!)) pivot = r;
    if (Math.abs(a[pivot]![col]!) < 1e-12) throw new RangeError('degenerate quadrilateral');
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    const row = a[col]!;
    for (let r = 0; r < 8; r++) {
      if (r === col) continue;
      const other = a[r]!;
      const f = other[col]! / row[col]!;
      if (f === 0) continue;
      for (let k = col; k < 9; k++) other[k] = other[k]! - f * row[k]!;
    }
  }
  return a.map((row, i) => row[8]! / row[i]!);
}

const subpixels = 32;

// OpenCV's bicubic kernel (a = −0.75).
function cubicWeights(t: number, w: Float64Array): void {
  const a = -0.75;
  const x0 = t + 1;
  const x1 = t;
  const x2 = 1 - t;
  w[0] = ((a * x0 - 5 * a) * x0 + 8 * a) * x0 - 4 * a;
  w[1] = ((a + 2) * x1 - (a + 3)) * x1 * x1 + 1;
  w[2] = ((a + 2) * x2 - (a + 3)) * x2 * x2 + 1;
  w[3] = 1 - w[0] - w[1] - w[2];
}

const wx = new Float64Array(4);
const wy = new Float64Array(4);

/** Bicubic sample at (x, y), pixel centres at integers, borders replicated. */
function bicubic(image: RawImage, x: number, y: number, out: Float64Array): void {
  const { data, width, height, channels } = image;
  const ix = Math.floor(x);
  const iy = Math.floor(y);
  cubicWeights(x - ix, wx);
  cubicWeights(y - iy, wy);
  out.fill(0);
  for (let j = 0; j < 4; j++) {
    const sy = Math.min(height - 1, Math.max(0, iy - 1 + j));
    for (let i = 0; i < 4; i++) {
      const sx = Math.min(width - 1, Math.max(0, ix - 1 + i));
      const weight = wx[i]! * wy[j]!;
      const base = (sy * width + sx) * channels;
      for (let c = 0; c < channels; c++) out[c] = out[c]! + weight * data[base + c]!;
    }
  }
}

function dist(a: Point, b: Point): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1]);
}
