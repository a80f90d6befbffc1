import type { Quad } from './geometry.js';

/**
 * Reading order, as PaddleOCR's `sorted_boxes`: sort by the top-left corner's y then x, then
 * let a box move left past its predecessors while their top-left corners are within
 * `lineTolerance` pixels vertically and to its right. Boxes of one line rarely share an
 * exact y, so a plain (y, x) sort would put a word that sits 2 px higher first.
 */
export function sortBoxes<T extends { points: Quad }>(boxes: readonly T[], lineTolerance = 10): T[] {
  const sorted = [...boxes].sort(
    (a, b) => a.points[0][1] - b.points[0][1] || a.points[0][0] - b.points[0][0],
  );
  for (let i = 0; i < sorted.length - 1; i++) {
    for (let j = i; j >= 0; j--) {
      const current = sorted[j]!;
      const next = sorted[j + 1]!;
      if (
        Math.abs(next.points[0][1] - current.points[0][1]) < lineTolerance &&
        next.points[0][0] < current.points[0][0]
      ) {
        sorted[j] = next;
        sorted[j + 1] = current;
      } else {
        break;
      }
    }
  }
  return sorted;
}
