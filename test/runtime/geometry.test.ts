import { describe, expect, it } from 'vitest';
import { sortBoxes } from '../../src/runtime/ocr/box-order.js';
import {
  convexHull,
  minAreaRect,
  miniBox,
  orderClockwise,
  type Point,
  polygonArea,
  polygonPerimeter,
  type Quad,
} from '../../src/runtime/ocr/geometry.js';

const rotate = ([x, y]: Point, degrees: number, [cx, cy]: Point = [0, 0]): Point => {
  const a = (degrees * Math.PI) / 180;
  return [
    cx + (x - cx) * Math.cos(a) - (y - cy) * Math.sin(a),
    cy + (x - cx) * Math.sin(a) + (y - cy) * Math.cos(a),
  ];
};

describe('convexHull', () => {
  it('keeps the corners and drops interior and collinear points', () => {
    const points: Point[] = [
      [0, 0],
      [5, 0],
      [10, 0],
      [10, 10],
      [0, 10],
      [5, 5],
      [3, 7],
      [0, 5],
    ];
    expect(convexHull(points)).toEqual([
      [0, 0],
      [10, 0],
      [10, 10],
      [0, 10],
    ]);
  });

  it('handles one and two points', () => {
    expect(convexHull([[3, 4]])).toEqual([[3, 4]]);
    expect(
      convexHull([
        [1, 1],
        [1, 1],
      ]),
    ).toEqual([[1, 1]]);
  });
});

describe('minAreaRect', () => {
  it('finds the rotated rectangle a point set was drawn from', () => {
    const corners: Point[] = [
      [0, 0],
      [40, 0],
      [40, 10],
      [0, 10],
    ].map((p) => rotate(p as Point, 17, [20, 5]));
    const inner = corners.map(([x, y]): Point => [x * 0.5 + 10, y * 0.5 + 2.5]);
    const rect = minAreaRect([...corners, ...inner]);
    expect(Math.max(rect.width, rect.height)).toBeCloseTo(40, 9);
    expect(Math.min(rect.width, rect.height)).toBeCloseTo(10, 9);
    expect(polygonArea(rect.corners)).toBeCloseTo(400, 6);
  });

  it('gives a zero-width rectangle for collinear points', () => {
    const rect = minAreaRect([
      [0, 0],
      [5, 5],
      [10, 10],
    ]);
    expect(Math.min(rect.width, rect.height)).toBeCloseTo(0, 12);
    expect(Math.max(rect.width, rect.height)).toBeCloseTo(Math.hypot(10, 10), 9);
  });
});

describe('miniBox', () => {
  it('orders corners TL, TR, BR, BL and reports the short side (get_mini_boxes)', () => {
    const { box, shortSide } = miniBox([
      [2, 3],
      [30, 3],
      [30, 9],
      [2, 9],
      [15, 6],
    ]);
    expect(box).toEqual([
      [2, 3],
      [30, 3],
      [30, 9],
      [2, 9],
    ]);
    expect(shortSide).toBeCloseTo(6, 12);
  });
});

describe('orderClockwise', () => {
  it('starts at the top-left whatever the input order', () => {
    const quad: Quad = [
      [10, 1],
      [0, 0],
      [1, 8],
      [11, 9],
    ];
    expect(orderClockwise(quad)).toEqual([
      [0, 0],
      [10, 1],
      [11, 9],
      [1, 8],
    ]);
  });
});

describe('polygon measures', () => {
  it('computes area and perimeter', () => {
    const square: Point[] = [
      [0, 0],
      [4, 0],
      [4, 3],
      [0, 3],
    ];
    expect(polygonArea(square)).toBe(12);
    expect(polygonPerimeter(square)).toBe(14);
  });
});

describe('sortBoxes (PaddleOCR sorted_boxes)', () => {
  const box = (x: number, y: number, label: string) => ({
    label,
    points: [
      [x, y],
      [x + 10, y],
      [x + 10, y + 5],
      [x, y + 5],
    ] as Quad,
  });

  it('reads top to bottom, and left to right within a line even when a word sits a little higher', () => {
    const sorted = sortBoxes([
      box(50, 100, 'line 2'),
      box(40, 12, 'world'),
      box(0, 15, 'hello'),
      box(5, 60, 'middle'),
    ]);
    expect(sorted.map((b) => b.label)).toEqual(['hello', 'world', 'middle', 'line 2']);
  });

  it('does not merge lines 10 px or more apart', () => {
    const sorted = sortBoxes([box(0, 20, 'lower'), box(40, 10, 'upper')]);
    expect(sorted.map((b) => b.label)).toEqual(['upper', 'lower']);
  });
});
