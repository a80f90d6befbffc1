import type { Point } from './geometry.js';

const shift = 16;
const one = 2 ** shift;

/**
 * Rasterises a polygon with integer vertices into a `width × height` mask the way OpenCV's
 * `cv2.fillPoly(mask, [poly], 1)` does (8-connected, no sub-pixel shift): every edge drawn
 * as a Bresenham line (clipped to the mask), then each scanline filled between its edge
 * crossings, x tracked in 16.16 fixed point from the upper vertex (edges are not clipped). PaddleOCR scores a box by the mean
 * probability under this mask, and a thin box near the 0.6 threshold is kept or dropped
 * depending on exactly these pixels: a pixel-centre inside test differs by several percent.
 */
export function fillPolyMask(polygon: readonly Point[], width: number, height: number): Uint8Array {
  const mask = new Uint8Array(width * height);
  const plot = (x: number, y: number) => {
    if (x >= 0 && x < width && y >= 0 && y < height) mask[y * width + x] = 1;
  };
  const edges: { y0: number; y1: number; x: number; dx: number }[] = [];
  const n = polygon.length;
  for (let i = 0; i < n; i++) {
    const p0 = polygon[(i + n - 1) % n]!;
    const p1 = polygon[i]!;
    line(p0, p1, width, height, plot);
    if (p0[1] === p1[1]) continue;
    const [top, bottom] = p0[1] < p1[1] ? [p0, p1] : [p1, p0];
    edges.push({
      y0: top[1],
      y1: bottom[1],
      x: top[0] * one,
      // C integer division: truncates toward zero.
      dx: Math.trunc(((p1[0] - p0[0]) * one) / (p1[1] - p0[1])),
    });
  }
  if (edges.length < 2) return mask;

  const yMin = Math.min(...edges.map((e) => e.y0));
  const yMax = Math.min(height, Math.max(...edges.map((e) => e.y1)));
  for (let y = Math.max(yMin, 0); y < yMax; y++) {
    // Edges crossing this scanline (upper end included, lower end excluded), left to right.
    const active = edges.filter((e) => e.y0 <= y && y < e.y1);
    const xs = active.map((e) => e.x + (y - e.y0) * e.dx).sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      // Pixels whose left edge lies within the span: ceil on the left, floor on the right.
      const x1 = Math.max(0, Math.ceil(xs[k]! / one));
      const x2 = Math.min(width - 1, Math.floor(xs[k + 1]! / one));
      for (let x = x1; x <= x2; x++) mask[y * width + x] = 1;
    }
  }
  return mask;
}

/** OpenCV's 8-connected `LineIterator` (clipped to the image, drawn left to right). */
function line(a: Point, b: Point, width: number, height: number, plot: (x: number, y: number) => void): void {
  if (!inside(a, width, height) || !inside(b, width, height)) {
    [a, b] = clipLine(a, b, width, height);
    if (!inside(a, width, height) || !inside(b, width, height)) return;
  }
  let [x, y] = a;
  let [x2, y2] = b;
  if (x2 < x) {
    [x, y, x2, y2] = [x2, y2, x, y];
  }
  const dx = x2 - x;
  const dy = Math.abs(y2 - y);
  const stepY = y2 < y ? -1 : 1;
  const vertical = dy > dx;
  const major = vertical ? dy : dx;
  const minor = vertical ? dx : dy;
  let err = major - 2 * minor;
  for (let i = 0; i <= major; i++) {
    plot(x, y);
    if (err < 0) {
      if (vertical) x += 1;
      else y += stepY;
      err += 2 * major;
    }
    err -= 2 * minor;
    if (vertical) y += stepY;
    else x += 1;
  }
}

function inside(p: Point, width: number, height: number): boolean {
  return p[0] >= 0 && p[0] < width && p[1] >= 0 && p[1] < height;
}

/** OpenCV's `clipLine` (Cohen–Sutherland with its integer rounding), end points moved onto the image. */
function clipLine(a: Point, b: Point, width: number, height: number): [Point, Point] {
  let [x1, y1] = a;
  let [x2, y2] = b;
  const right = width - 1;
  const bottom = height - 1;
  const code = (x: number, y: number) =>
    (x < 0 ? 1 : 0) + (x > right ? 2 : 0) + (y < 0 ? 4 : 0) + (y > bottom ? 8 : 0);
  let c1 = code(x1, y1);
  let c2 = code(x2, y2);
  if ((c1 & c2) === 0 && (c1 | c2) !== 0) {
    if (c1 & 12) {
      const edge = c1 < 8 ? 0 : bottom;
      x1 += Math.trunc(((edge - y1) * (x2 - x1)) / (y2 - y1));
      y1 = edge;
      c1 = (x1 < 0 ? 1 : 0) + (x1 > right ? 2 : 0);
    }
    if (c2 & 12) {
      const edge = c2 < 8 ? 0 : bottom;
      x2 += Math.trunc(((edge - y2) * (x2 - x1)) / (y2 - y1));
      y2 = edge;
      c2 = (x2 < 0 ? 1 : 0) + (x2 > right ? 2 : 0);
    }
    if ((c1 & c2) === 0 && (c1 | c2) !== 0) {
      if (c1) {
        const edge = c1 === 1 ? 0 : right;
        y1 += Math.trunc(((edge - x1) * (y2 - y1)) / (x2 - x1));
        x1 = edge;
      }
      if (c2) {
        const edge = c2 === 1 ? 0 : right;
        y2 += Math.trunc(((edge - x2) * (y2 - y1)) / (x2 - x1));
        x2 = edge;
      }
    }
  }
  return [
    [x1, y1],
    [x2, y2],
  ];
}
