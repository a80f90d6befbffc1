import { describe, expect, it } from 'vitest';
import { boxScoreFast, dbPostprocess, type ProbabilityMap } from '../../src/runtime/ocr/db-postprocess.js';
import { fillPolyMask } from '../../src/runtime/ocr/fill-poly.js';
import { convexHull, miniBox, type Point } from '../../src/runtime/ocr/geometry.js';
import { unclip } from '../../src/runtime/ocr/unclip.js';

// Reference values below were produced by OpenCV 4.6 and pyclipper 1.2 running PaddleOCR's
// own functions (`cv2.fillPoly`, `unclip`, `get_mini_boxes`) on the same inputs.

const maskRows = (mask: Uint8Array, width: number) =>
  Array.from({ length: mask.length / width }, (_, y) =>
    Array.from(mask.subarray(y * width, (y + 1) * width), (v) => (v ? '#' : '.')).join(''),
  );

describe('fillPolyMask (cv2.fillPoly)', () => {
  it('fills exactly the pixels OpenCV fills', () => {
    const mask = fillPolyMask(
      [
        [1, 1],
        [8, 3],
        [6, 7],
        [0, 5],
      ],
      10,
      8,
    );
    expect(maskRows(mask, 10)).toEqual([
      '..........',
      '.##.......',
      '.######...',
      '#########.',
      '########..',
      '########..',
      '..#####...',
      '.....##...',
    ]);
  });

  it('clips a polygon that leaves the mask as OpenCV does', () => {
    const mask = fillPolyMask(
      [
        [-3, 2],
        [7, -2],
        [11, 4],
        [2, 9],
      ],
      10,
      8,
    );
    expect(maskRows(mask, 10)).toEqual([
      '..#######.',
      '#########.',
      '##########',
      '##########',
      '##########',
      '##########',
      '#########.',
      '.######...',
    ]);
  });
});

describe('unclip (pyclipper JT_ROUND offset)', () => {
  it('grows an axis-aligned box into the same polygon as pyclipper', () => {
    const grown = unclip(
      [
        [10, 20],
        [50, 20],
        [50, 30],
        [10, 30],
      ],
      1.5,
    );
    // distance = area × ratio / perimeter = 400 × 1.5 / 100 = 6
    expect(convexHull(grown)).toEqual(
      convexHull([
        [53, 15],
        [55, 18],
        [56, 20],
        [56, 30],
        [55, 33],
        [52, 35],
        [50, 36],
        [10, 36],
        [7, 35],
        [5, 32],
        [4, 30],
        [4, 20],
        [5, 17],
        [8, 15],
        [10, 14],
        [50, 14],
      ]),
    );
  });

  it('reproduces pyclipper on a tilted float box (integer truncation and coarse arcs included)', () => {
    const box: Point[] = [
      [70.02, 162.9],
      [317.05, 164.73],
      [316.97, 176.72],
      [69.93, 174.89],
    ];
    const reference: Point[] = [
      [317, 155],
      [321, 156],
      [324, 159],
      [326, 165],
      [325, 177],
      [323, 181],
      [320, 183],
      [316, 185],
      [69, 183],
      [65, 182],
      [62, 179],
      [60, 173],
      [61, 161],
      [63, 157],
      [66, 155],
      [70, 153],
    ];
    const grown = unclip(box, 1.5);
    expect(convexHull(grown)).toEqual(convexHull(reference));
    // …and so the same rectangle PaddleOCR crops: [[60.16, 152.92], [326.08, 155.07], …]
    const { box: rect } = miniBox(grown);
    const expected = [
      [60.16258, 152.92036],
      [326.08032, 155.07353],
      [325.8374, 185.07967],
      [59.91963, 182.9265],
    ];
    rect.forEach(([x, y], i) => {
      expect(x).toBeCloseTo(expected[i]![0]!, 3);
      expect(y).toBeCloseTo(expected[i]![1]!, 3);
    });
  });
});

/** A probability map with rectangles of given probability painted on zero. */
function paint(
  width: number,
  height: number,
  rects: [x0: number, y0: number, x1: number, y1: number, p: number][],
) {
  const data = new Float32Array(width * height);
  for (const [x0, y0, x1, y1, p] of rects) {
    for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) data[y * width + x] = p;
  }
  return { data, width, height } satisfies ProbabilityMap;
}

describe('boxScoreFast', () => {
  it('averages the map under the filled box', () => {
    const map = paint(20, 10, [[2, 2, 11, 5, 0.8]]);
    expect(
      boxScoreFast(map, [
        [2, 2],
        [11, 2],
        [11, 5],
        [2, 5],
      ]),
    ).toBeCloseTo(0.8, 6);
    // Half of this box lies on zeros.
    expect(
      boxScoreFast(map, [
        [2, 2],
        [11, 2],
        [11, 9],
        [2, 9],
      ]),
    ).toBeCloseTo(0.4, 6);
  });
});

describe('dbPostprocess', () => {
  it('turns text regions into unclipped quads in source coordinates, in reading order', () => {
    // Map at half the source resolution: coordinates double on the way out.
    const map = paint(64, 32, [
      [30, 4, 55, 9, 0.9],
      [4, 5, 24, 10, 0.95],
      [4, 20, 40, 25, 0.8],
    ]);
    const boxes = dbPostprocess(map, 128, 64);
    expect(boxes).toHaveLength(3);
    // Same line first (left to right), then the next line.
    expect(boxes[0]!.points[0][0]).toBeLessThan(boxes[1]!.points[0][0]);
    expect(boxes[2]!.points[0][1]).toBeGreaterThan(boxes[1]!.points[3][1]);
    expect(boxes.map((b) => b.score)).toEqual([
      expect.closeTo(0.95, 5),
      expect.closeTo(0.9, 5),
      expect.closeTo(0.8, 5),
    ]);
    // Region x 4..24, y 5..10 (20 × 5 between pixel centres): unclip distance = 100 × 1.5 / 50 = 3,
    // so x 1..27, y 2..13 on the map, doubled.
    expect(boxes[0]!.points).toEqual([
      [2, 4],
      [54, 4],
      [54, 26],
      [2, 26],
    ]);
    for (const { points } of boxes) {
      const [tl, tr, br, bl] = points;
      expect(tl[0]).toBeLessThan(tr[0]);
      expect(bl[0]).toBeLessThan(br[0]);
      expect(tl[1]).toBeLessThan(bl[1]);
      expect(tr[1]).toBeLessThan(br[1]);
    }
  });

  it('drops regions under the box threshold and slivers, and finds nothing in an empty map', () => {
    const map = paint(64, 32, [
      [4, 4, 40, 10, 0.5], // above thresh 0.3, below boxThresh 0.6
      [4, 20, 40, 21, 0.9], // 2 px high: shorter than minSize 3
    ]);
    expect(dbPostprocess(map, 64, 32)).toEqual([]);
    expect(dbPostprocess(paint(32, 32, []), 32, 32)).toEqual([]);
    expect(dbPostprocess(map, 64, 32, { boxThresh: 0.4 })).toHaveLength(1);
  });

  it('scores a region over its own outline in slow mode, its rectangle in fast mode', () => {
    // An L-shaped region (a line with a tall neighbour's stroke): its rectangle is half empty.
    const map = paint(64, 32, [
      [4, 4, 40, 9, 0.7],
      [4, 10, 9, 25, 0.7],
    ]);
    expect(dbPostprocess(map, 64, 32)).toEqual([]);
    const [box] = dbPostprocess(map, 64, 32, { scoreMode: 'slow' });
    expect(box!.score).toBeGreaterThan(0.6);
  });

  it('maps boxes found on a framed map (pad) back to the image, clamped to it', () => {
    // The same region as above on a map framed by 16 px: the same box comes out.
    const plain = paint(64, 32, [[4, 5, 24, 10, 0.95]]);
    const framed = paint(96, 64, [[20, 21, 40, 26, 0.95]]);
    expect(dbPostprocess({ ...framed, pad: 16 }, 128, 64)).toEqual(dbPostprocess(plain, 128, 64));
    // A line running into the frame (text at the image's edge) is clamped to the image.
    const edge = paint(96, 64, [[10, 21, 90, 26, 0.95]]);
    const [box] = dbPostprocess({ ...edge, pad: 16 }, 128, 64);
    expect(box!.points.map(([x]) => x)).toEqual([0, 127, 127, 0]);
  });

  it('keeps boxes inside the source image', () => {
    const map = paint(32, 32, [[0, 0, 31, 6, 0.9]]);
    const [box] = dbPostprocess(map, 100, 100);
    for (const [x, y] of box!.points) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThanOrEqual(99);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(y).toBeLessThanOrEqual(99);
    }
  });
});
