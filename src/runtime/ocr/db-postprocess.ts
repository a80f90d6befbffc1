import { sortBoxes } from './box-order.js';
import { componentOutlines } from './connected-components.js';
import { fillPolyMask } from './fill-poly.js';
import { miniBox, orderClockwise, type Point, type Quad } from './geometry.js';
import { unclip } from './unclip.js';

/** A probability map from the detector: one value in [0, 1] per pixel of the resized input. */
export interface ProbabilityMap {
  data: Float32Array;
  width: number;
  height: number;
  /** A frame of this many pixels on every side that is not part of the image (det-preprocess.ts). */
  pad?: number;
}

/** One detected text region in original image coordinates. */
export interface TextBox {
  /** Integer corners, clockwise from the top-left. */
  points: Quad;
  /** Mean probability inside the (shrunk) box, before unclipping. */
  score: number;
}

/** PaddleOCR's inference defaults for PP-OCRv4 detection (`det_db_*`). */
export interface DbOptions {
  /** Pixels above this probability are text. */
  thresh: number;
  /** Boxes whose mean probability is below this are dropped. */
  boxThresh: number;
  /** How far a box is grown back (the network predicts shrunk kernels). */
  unclipRatio: number;
  /** At most this many regions are examined (a noise guard). */
  maxCandidates: number;
  /** Boxes whose shorter side (on the map) is under this are noise. */
  minSize: number;
  /**
   * PaddleOCR's `det_db_score_mode`: `fast` averages the map inside the region's minimum-area
   * rectangle, `slow` inside the region's own outline (a region that is not a rectangle, such
   * as a line with tall neighbours or a slant, is not diluted by the background around it).
   */
  scoreMode: 'fast' | 'slow';
}

/** PaddleOCR's values (`det_db_thresh`, `det_db_box_thresh`, `det_db_unclip_ratio`, …). */
export const defaultDbOptions: DbOptions = {
  thresh: 0.3,
  boxThresh: 0.6,
  unclipRatio: 1.5,
  maxCandidates: 1000,
  minSize: 3,
  scoreMode: 'fast',
};

/**
 * DB (Differentiable Binarization) post-processing, as PaddleOCR's `DBPostProcess` with
 * `box_type: quad`, `score_mode: fast`, then `filter_tag_det_res` and `sorted_boxes`:
 * threshold → regions → minimum-area rectangle → box score → unclip → rectangle again →
 * scale to the original image → order corners → drop slivers → reading order.
 */
export function dbPostprocess(
  map: ProbabilityMap,
  sourceWidth: number,
  sourceHeight: number,
  options: Partial<DbOptions> = {},
): TextBox[] {
  const o = { ...defaultDbOptions, ...options };
  const { data, width, height } = map;
  const pad = map.pad ?? 0;
  const innerWidth = width - 2 * pad;
  const innerHeight = height - 2 * pad;
  const mask = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) mask[i] = data[i]! > o.thresh ? 1 : 0;

  const boxes: TextBox[] = [];
  for (const outline of componentOutlines(mask, width, height, o.maxCandidates)) {
    const first = miniBox(outline);
    if (first.shortSide < o.minSize) continue;
    const score = boxScoreFast(map, o.scoreMode === 'slow' ? outline : first.box);
    if (score < o.boxThresh) continue;
    const expanded = unclip(first.box, o.unclipRatio);
    if (expanded.length === 0) continue;
    const grown = miniBox(expanded);
    if (grown.shortSide < o.minSize + 2) continue;

    // PaddleOCR rounds and clips to [0, size] here, then clips again to [0, size - 1]; a box
    // reaching into the frame is clamped to the image.
    const scaled = grown.box.map(
      ([x, y]): Point => [
        clamp(Math.round(((x - pad) / innerWidth) * sourceWidth), 0, sourceWidth - 1),
        clamp(Math.round(((y - pad) / innerHeight) * sourceHeight), 0, sourceHeight - 1),
      ],
    );
    const points = orderClockwise(scaled);
    const boxWidth = Math.trunc(distance(points[0], points[1]));
    const boxHeight = Math.trunc(distance(points[0], points[3]));
    if (boxWidth <= 3 || boxHeight <= 3) continue;
    boxes.push({ points, score });
  }
  return sortBoxes(boxes);
}

/**
 * Mean probability inside a box (PaddleOCR's `box_score_fast`): the box's corners, relative
 * to its bounding rectangle, truncated to integers and filled as `cv2.fillPoly` fills them,
 * the map averaged under that mask.
 */
export function boxScoreFast(map: ProbabilityMap, box: readonly Point[]): number {
  const { data, width, height } = map;
  const xs = box.map((p) => p[0]);
  const ys = box.map((p) => p[1]);
  const xMin = clamp(Math.floor(Math.min(...xs)), 0, width - 1);
  const xMax = clamp(Math.ceil(Math.max(...xs)), 0, width - 1);
  const yMin = clamp(Math.floor(Math.min(...ys)), 0, height - 1);
  const yMax = clamp(Math.ceil(Math.max(...ys)), 0, height - 1);
  const w = xMax - xMin + 1;
  const h = yMax - yMin + 1;
  const polygon = box.map((p): Point => [Math.trunc(p[0] - xMin), Math.trunc(p[1] - yMin)]);
  const mask = fillPolyMask(polygon, w, h);
  let sum = 0;
  let count = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!mask[y * w + x]) continue;
      sum += data[(y + yMin) * width + x + xMin]!;
      count++;
    }
  }
  return count === 0 ? 0 : sum / count;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

function distance(a: Point, b: Point): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1]);
}
