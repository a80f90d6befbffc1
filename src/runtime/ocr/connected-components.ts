import type { Point } from './geometry.js';

/**
 * 8-connected regions of a binary mask, each reduced to the leftmost and rightmost pixel of
 * every row it spans. That is all a convex hull (and so a minimum-area rectangle) needs, and
 * it equals the hull of the outer contour OpenCV's `findContours` would trace (PaddleOCR's
 * DB post-processing), without tracing the contour. Regions come in raster order of their
 * first pixel; at most `limit` are returned.
 */
export function componentOutlines(
  mask: Uint8Array,
  width: number,
  height: number,
  limit = Infinity,
): Point[][] {
  const visited = new Uint8Array(width * height);
  const stack = new Int32Array(width * height);
  const rowMin = new Int32Array(height).fill(-1);
  const rowMax = new Int32Array(height).fill(-1);
  const regions: Point[][] = [];

  for (let start = 0; start < mask.length && regions.length < limit; start++) {
    if (!mask[start] || visited[start]) continue;
    let top = 0;
    stack[top++] = start;
    visited[start] = 1;
    let yMin = height;
    let yMax = -1;
    while (top > 0) {
      const index = stack[--top]!;
      const x = index % width;
      const y = (index - x) / width;
      if (y < yMin) yMin = y;
      if (y > yMax) yMax = y;
      if (rowMin[y] === -1 || x < rowMin[y]!) rowMin[y] = x;
      if (x > rowMax[y]!) rowMax[y] = x;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if (nx < 0 || nx >= width) continue;
          const next = ny * width + nx;
          if (mask[next] && !visited[next]) {
            visited[next] = 1;
            stack[top++] = next;
          }
        }
      }
    }
    const outline: Point[] = [];
    for (let y = yMin; y <= yMax; y++) {
      if (rowMin[y] === -1) continue;
      outline.push([rowMin[y]!, y]);
      if (rowMax[y] !== rowMin[y]) outline.push([rowMax[y]!, y]);
      rowMin[y] = -1;
      rowMax[y] = -1;
    }
    regions.push(outline);
  }
  return regions;
}
