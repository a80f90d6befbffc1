/** `[x, y]` in pixels, y pointing down (image coordinates). */
export type Point = [number, number];
/** Four corners of a text box, clockwise from the top-left: TL, TR, BR, BL. */
export type Quad = [Point, Point, Point, Point];

/** Convex hull (Andrew's monotone chain), counter-clockwise in y-up terms, without collinear points. */
export function convexHull(points: readonly Point[]): Point[] {
  const sorted = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (sorted.length < 3) return dedupe(sorted);
  const cross = (o: Point, a: Point, b: Point) =>
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower: Point[] = [];
  for (const p of sorted) {
    while (lower.length >= 2 && cross(lower.at(-2)!, lower.at(-1)!, p) <= 0) lower.pop();
    lower.push(p);
  }
  const upper: Point[] = [];
  for (let i = sorted.length - 1; i >= 0; i--) {
    const p = sorted[i]!;
    while (upper.length >= 2 && cross(upper.at(-2)!, upper.at(-1)!, p) <= 0) upper.pop();
    upper.push(p);
  }
  lower.pop();
  upper.pop();
  return dedupe(lower.concat(upper));
}

function dedupe(points: Point[]): Point[] {
  return points.filter((p, i) => i === 0 || p[0] !== points[i - 1]![0] || p[1] !== points[i - 1]![1]);
}

/** A rotated rectangle: its corners (in hull order) and side lengths. */
export interface RotatedRect {
  corners: Quad;
  width: number;
  height: number;
}

/**
 * Minimum-area enclosing rectangle of a point set (what OpenCV's `minAreaRect` computes):
 * by rotating calipers, one side of the optimum lies along a hull edge, so trying every
 * edge direction is exact. Degenerate sets (a point, a segment) give a zero-width rectangle.
 */
export function minAreaRect(points: readonly Point[]): RotatedRect {
  const hull = convexHull(points);
  if (hull.length === 0) throw new RangeError('minAreaRect of no points');
  if (hull.length === 1) {
    const p = hull[0]!;
    return { corners: [p, p, p, p], width: 0, height: 0 };
  }
  let best: {
    area: number;
    ux: number;
    uy: number;
    minU: number;
    maxU: number;
    minV: number;
    maxV: number;
  } | null = null;
  for (let i = 0; i < hull.length; i++) {
    const a = hull[i]!;
    const b = hull[(i + 1) % hull.length]!;
    const length = Math.hypot(b[0] - a[0], b[1] - a[1]);
    if (length === 0) continue;
    const ux = (b[0] - a[0]) / length;
    const uy = (b[1] - a[1]) / length;
    let minU = Infinity;
    let maxU = -Infinity;
    let minV = Infinity;
    let maxV = -Infinity;
    for (const p of hull) {
      const u = p[0] * ux + p[1] * uy;
      const v = -p[0] * uy + p[1] * ux;
      if (u < minU) minU = u;
      if (u > maxU) maxU = u;
      if (v < minV) minV = v;
      if (v > maxV) maxV = v;
    }
    const area = (maxU - minU) * (maxV - minV);
    if (best === null || area < best.area - 1e-9) best = { area, ux, uy, minU, maxU, minV, maxV };
  }
  const { ux, uy, minU, maxU, minV, maxV } = best!;
  const at = (u: number, v: number): Point => [u * ux - v * uy, u * uy + v * ux];
  return {
    corners: [at(minU, minV), at(maxU, minV), at(maxU, maxV), at(minU, maxV)],
    width: maxU - minU,
    height: maxV - minV,
  };
}

/**
 * PaddleOCR's `get_mini_boxes`: the minimum-area rectangle of a contour, its corners ordered
 * TL, TR, BR, BL by sorting on x and then comparing y within the left and right pairs, and
 * its shorter side (candidates thinner than a few pixels are noise).
 */
export function miniBox(points: readonly Point[]): { box: Quad; shortSide: number } {
  const rect = minAreaRect(points);
  const p = [...rect.corners].sort((a, b) => a[0] - b[0]);
  const [tl, bl] = p[1]![1] > p[0]![1] ? [p[0]!, p[1]!] : [p[1]!, p[0]!];
  const [tr, br] = p[3]![1] > p[2]![1] ? [p[2]!, p[3]!] : [p[3]!, p[2]!];
  return { box: [tl, tr, br, bl], shortSide: Math.min(rect.width, rect.height) };
}

/**
 * Orders four corners clockwise from the top-left as PaddleOCR's `order_points_clockwise`:
 * TL has the smallest x+y, BR the largest; of the other two, TR has the smaller y−x.
 */
export function orderClockwise(points: readonly Point[]): Quad {
  const idx = [0, 1, 2, 3];
  const sum = (i: number) => points[i]![0] + points[i]![1];
  const tl = idx.reduce((m, i) => (sum(i) < sum(m) ? i : m));
  const rest = idx.filter((i) => i !== tl);
  const br = rest.reduce((m, i) => (sum(i) > sum(m) ? i : m));
  const [a, b] = rest.filter((i) => i !== br) as [number, number];
  const diff = (i: number) => points[i]![1] - points[i]![0];
  const [tr, bl] = diff(a) <= diff(b) ? [a, b] : [b, a];
  return [points[tl]!, points[tr]!, points[br]!, points[bl]!].map((p) => [p[0], p[1]]) as Quad;
}

/** Shoelace area (absolute) of a simple polygon. */
export function polygonArea(points: readonly Point[]): number {
  let twice = 0;
  for (let i = 0; i < points.length; i++) {
    const a = points[i]!;
    const b = points[(i + 1) % points.length]!;
    twice += a[0] * b[1] - b[0] * a[1];
  }
  return Math.abs(twice) / 2;
}

/** Sum of the edge lengths of a closed polygon. */
export function polygonPerimeter(points: readonly Point[]): number {
  let length = 0;
  for (let i = 0; i < points.length; i++) {
    const a = points[i]!;
    const b = points[(i + 1) % points.length]!;
    length += Math.hypot(b[0] - a[0], b[1] - a[1]);
  }
  return length;
}
