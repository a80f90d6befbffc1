import { type Point, polygonArea, polygonPerimeter } from './geometry.js';

/**
 * DB's "unclip": the network is trained to predict a *shrunk* text kernel, so each box is
 * grown back by `distance = area × ratio / perimeter`, as PaddleOCR does with pyclipper
 * (`PyclipperOffset`, `JT_ROUND`, `ET_CLOSEDPOLYGON`).
 *
 * This reproduces Clipper's offset step for step rather than an ideal geometric offset,
 * because the integer arithmetic moves box edges by a pixel or two and the recogniser reads
 * what the crop contains: pyclipper truncates the float corners to integers, rounds every
 * output vertex, and approximates the corner arcs with few vertices (arc tolerance 0.25 px).
 * Clipper's final union pass only merges collinear and duplicate vertices, which changes
 * neither the hull nor the rectangle taken from it afterwards, so it is left out.
 */
export function unclip(box: readonly Point[], ratio: number): Point[] {
  const perimeter = polygonPerimeter(box);
  if (perimeter === 0) return [...box];
  return clipperOffsetRound(box, (polygonArea(box) * ratio) / perimeter);
}

const arcTolerance = 0.25;

/** Clipper's `ClipperOffset` for one closed polygon with round joins and a positive `delta`. */
export function clipperOffsetRound(polygon: readonly Point[], delta: number): Point[] {
  const source = stripDuplicates(polygon.map(([x, y]): Point => [Math.trunc(x), Math.trunc(y)]));
  if (source.length < 3) return [];
  // Clipper offsets outwards only for its positive orientation (FixOrientations).
  if (clipperArea(source) < 0) source.reverse();

  const tolerance = Math.min(arcTolerance, Math.abs(delta) * arcTolerance);
  let steps = Math.PI / Math.acos(1 - tolerance / Math.abs(delta));
  if (steps > Math.abs(delta) * Math.PI) steps = Math.abs(delta) * Math.PI;
  const sin = Math.sin((2 * Math.PI) / steps);
  const cos = Math.cos((2 * Math.PI) / steps);
  const stepsPerRad = steps / (2 * Math.PI);

  const n = source.length;
  const normals = source.map((p, j) => unitNormal(p, source[(j + 1) % n]!));
  const out: Point[] = [];
  const push = (x: number, y: number) => out.push([clipperRound(x), clipperRound(y)]);
  let k = n - 1;
  for (let j = 0; j < n; j++) {
    const p = source[j]!;
    const nk = normals[k]!;
    const nj = normals[j]!;
    let sinA = nk[0] * nj[1] - nj[0] * nk[1];
    const cosA = nk[0] * nj[0] + nk[1] * nj[1];
    if (Math.abs(sinA * delta) < 1) {
      if (cosA > 0) {
        // Nearly straight on: one vertex, and k stays on the previous edge (as in Clipper).
        push(p[0] + nk[0] * delta, p[1] + nk[1] * delta);
        continue;
      }
    } else {
      sinA = Math.max(-1, Math.min(1, sinA));
    }
    if (sinA * delta < 0) {
      push(p[0] + nk[0] * delta, p[1] + nk[1] * delta);
      out.push([p[0], p[1]]);
      push(p[0] + nj[0] * delta, p[1] + nj[1] * delta);
    } else {
      // DoRound: walk the arc from edge k's normal to edge j's in fixed angular steps.
      const angle = Math.atan2(sinA, cosA);
      const count = Math.max(Math.round(stepsPerRad * Math.abs(angle)), 1);
      let x = nk[0];
      let y = nk[1];
      for (let i = 0; i < count; i++) {
        push(p[0] + x * delta, p[1] + y * delta);
        const x2 = x;
        x = x * cos - sin * y;
        y = x2 * sin + y * cos;
      }
      push(p[0] + nj[0] * delta, p[1] + nj[1] * delta);
    }
    k = j;
  }
  return out;
}

function stripDuplicates(path: Point[]): Point[] {
  let high = path.length - 1;
  while (high > 0 && same(path[0]!, path[high]!)) high--;
  const out: Point[] = [];
  for (let i = 0; i <= high; i++) if (out.length === 0 || !same(out.at(-1)!, path[i]!)) out.push(path[i]!);
  return out;
}

function same(a: Point, b: Point): boolean {
  return a[0] === b[0] && a[1] === b[1];
}

/** Clipper's `Area`: positive for its "outer" orientation (clockwise on screen, y down). */
function clipperArea(poly: readonly Point[]): number {
  let a = 0;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    a += (poly[j]![0] + poly[i]![0]) * (poly[j]![1] - poly[i]![1]);
  }
  return -a * 0.5;
}

function unitNormal(a: Point, b: Point): Point {
  let dx = b[0] - a[0];
  let dy = b[1] - a[1];
  if (dx === 0 && dy === 0) return [0, 0];
  const f = 1 / Math.sqrt(dx * dx + dy * dy);
  dx *= f;
  dy *= f;
  return [dy, -dx];
}

/** Clipper's `Round`: halves away from zero. */
function clipperRound(value: number): number {
  return value < 0 ? Math.trunc(value - 0.5) : Math.trunc(value + 0.5);
}
