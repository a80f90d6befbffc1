import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { isInferqError } from '../../src/errors/index.js';
import { decodeImage } from '../../src/runtime/image/decode-image.js';
import { resizeBilinear } from '../../src/runtime/image/resize-bilinear.js';
import { cropQuad, homography, rotate180 } from '../../src/runtime/ocr/crop-quad.js';
import { detInputSize, detPreprocess } from '../../src/runtime/ocr/det-preprocess.js';
import { lineTensor, lineWidth, recBatchWidth } from '../../src/runtime/ocr/line-preprocess.js';
import type { RawImage } from '../../src/runtime/runtime.js';

const grey = (rows: number[][]): RawImage => ({
  data: Uint8Array.from(rows.flat()),
  width: rows[0]!.length,
  height: rows.length,
  channels: 1,
});
const rows = (image: RawImage) =>
  Array.from({ length: image.height }, (_, y) =>
    Array.from(image.data.subarray(y * image.width, (y + 1) * image.width)),
  );

describe('resizeBilinear (cv2.resize INTER_LINEAR)', () => {
  // Expected values from OpenCV 4.6 `cv2.resize(a, size)` on the same array.
  const source = grey([
    [0, 50, 100, 150],
    [200, 250, 30, 80],
    [10, 20, 240, 255],
  ]);

  it('enlarges with pixel centres aligned and edges clamped', () => {
    expect(rows(resizeBilinear(source, 7, 5))).toEqual([
      [0, 18, 46, 75, 103, 132, 150],
      [80, 98, 126, 101, 75, 104, 122],
      [200, 218, 246, 140, 34, 62, 80],
      [86, 95, 110, 134, 158, 175, 185],
      [10, 13, 19, 130, 241, 249, 255],
    ]);
  });

  it('shrinks without smoothing, as OpenCV does', () => {
    expect(rows(resizeBilinear(resizeBilinear(source, 7, 5), 3, 2))).toEqual([
      [72, 95, 117],
      [72, 133, 196],
    ]);
  });
});

describe('decodeImage', () => {
  it('composites transparency on white and expands grey to RGB', async () => {
    const transparent = await sharp({
      create: { width: 2, height: 1, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
    })
      .png()
      .toBuffer();
    expect(Array.from((await decodeImage({ bytes: transparent })).data)).toEqual([
      255, 255, 255, 255, 255, 255,
    ]);
    const image = await decodeImage({ image: grey([[7, 200]]) });
    expect(image.channels).toBe(3);
    expect(Array.from(image.data)).toEqual([7, 7, 7, 200, 200, 200]);
  });

  it('applies the EXIF orientation, so coordinates match what a viewer shows', async () => {
    const rotated = await sharp({ create: { width: 30, height: 10, channels: 3, background: '#fff' } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const image = await decodeImage({ bytes: rotated });
    expect([image.width, image.height]).toEqual([10, 30]);
  });

  it('reports undecodable, empty and oversized inputs with their codes', async () => {
    const codeOf = (p: Promise<unknown>) =>
      p.then(
        () => 'resolved',
        (err: unknown) => (isInferqError(err) ? err.code : String(err)),
      );
    expect(await codeOf(decodeImage({ bytes: Buffer.from('not an image at all') }))).toBe(
      'INFERQ_INPUT_UNDECODABLE',
    );
    expect(await codeOf(decodeImage({ bytes: new Uint8Array(0) }))).toBe('INFERQ_INPUT_EMPTY');
    const big = await sharp({ create: { width: 100, height: 100, channels: 3, background: '#fff' } })
      .png()
      .toBuffer();
    expect(await codeOf(decodeImage({ bytes: big }, 5000))).toBe('INFERQ_INPUT_TOO_LARGE');
    expect(await codeOf(decodeImage({ value: { not: 'an image' } }))).toBe('INFERQ_INPUT_UNDECODABLE');
  });
});

describe('detector input', () => {
  it('limits the long side to 960 and rounds both sides to multiples of 32 (Python rounding)', () => {
    expect(detInputSize(640, 320)).toEqual({ width: 640, height: 320 });
    expect(detInputSize(1600, 1000)).toEqual({ width: 960, height: 608 });
    expect(detInputSize(10, 10)).toEqual({ width: 32, height: 32 });
    // 48/32 = 1.5 rounds to 2, 80/32 = 2.5 rounds to 2: ties go to even.
    expect(detInputSize(48, 80)).toEqual({ width: 64, height: 64 });
    expect(detInputSize(100, 50, 736, 'min')).toEqual({ width: 1472, height: 736 });
  });

  it('feeds BGR planes normalised with the ImageNet mean and std, as PaddleOCR does', () => {
    const red: RawImage = { data: Uint8Array.from([255, 0, 0]), width: 1, height: 1, channels: 3 };
    const { tensor, width, height } = detPreprocess(red);
    expect([width, height]).toEqual([32, 32]);
    const plane = 32 * 32;
    expect(tensor[0]).toBeCloseTo((0 - 0.485) / 0.229, 5); // blue
    expect(tensor[plane]).toBeCloseTo((0 - 0.456) / 0.224, 5); // green
    expect(tensor[2 * plane]).toBeCloseTo((1 - 0.406) / 0.225, 5); // red
  });

  it('frames the resized image with pad pixels of its edge colour, sides still multiples of 32', () => {
    // 32 × 32: a white ring around a black square; the frame takes the ring's colour.
    const image: RawImage = {
      data: new Uint8Array(32 * 32 * 3).fill(255),
      width: 32,
      height: 32,
      channels: 3,
    };
    for (let y = 8; y < 24; y++) image.data.fill(0, (y * 32 + 8) * 3, (y * 32 + 24) * 3);
    const { tensor, width, height, pad } = detPreprocess(image, 960, 'max', 16);
    expect([width, height, pad]).toEqual([64, 64, 16]);
    const white = (1 - 0.485) / 0.229; // blue plane
    const black = (0 - 0.485) / 0.229;
    expect(tensor[0]).toBeCloseTo(white, 5); // frame corner
    expect(tensor[16 * 64 + 16]).toBeCloseTo(white, 5); // the image's own corner
    expect(tensor[(16 + 16) * 64 + 16 + 16]).toBeCloseTo(black, 5); // its black square
    expect(() => detPreprocess(image, 960, 'max', 8)).toThrow(RangeError);
  });
});

describe('text-line input', () => {
  it('keeps the aspect ratio, pads with zeros, and uses BGR planes in [-1, 1]', () => {
    const blue: RawImage = { data: new Uint8Array(24 * 12 * 3), width: 24, height: 12, channels: 3 };
    for (let i = 0; i < 24 * 12; i++) blue.data[i * 3 + 2] = 255;
    expect(lineWidth(blue, 48, 192)).toBe(96);
    const tensor = lineTensor([blue], 48, 192);
    const plane = 48 * 192;
    expect(tensor[0]).toBe(1); // B
    expect(tensor[plane]).toBe(-1); // G
    expect(tensor[2 * plane]).toBe(-1); // R
    expect(tensor[95]).toBe(1);
    expect(tensor[96]).toBe(0); // padding
    expect(tensor[plane - 1]).toBe(0);
  });

  it('sizes a recogniser group by its widest line, never under the minimum width', () => {
    expect(recBatchWidth([{ width: 20, height: 10 }], 48, 320)).toBe(320);
    expect(
      recBatchWidth(
        [
          { width: 20, height: 10 },
          { width: 100, height: 10 },
        ],
        48,
        320,
      ),
    ).toBe(480);
  });
});

describe('cropQuad', () => {
  const gradient: RawImage = { data: new Uint8Array(40 * 20), width: 40, height: 20, channels: 1 };
  for (let y = 0; y < 20; y++) for (let x = 0; x < 40; x++) gradient.data[y * 40 + x] = (x * 5 + y * 3) % 256;

  it('cuts an axis-aligned box out unchanged', () => {
    const crop = cropQuad(gradient, [
      [5, 3],
      [25, 3],
      [25, 13],
      [5, 13],
    ]);
    expect([crop.width, crop.height]).toEqual([20, 10]);
    for (let y = 0; y < 10; y++) {
      for (let x = 0; x < 20; x++) expect(crop.data[y * 20 + x]).toBe(gradient.data[(y + 3) * 40 + x + 5]);
    }
  });

  it('copies whole-pixel upright boxes exactly as the bicubic warp computes them', () => {
    const rgb: RawImage = { data: new Uint8Array(37 * 23 * 3), width: 37, height: 23, channels: 3 };
    for (let i = 0; i < rgb.data.length; i++) rgb.data[i] = (i * 7919) % 251;
    // Inside, touching the edges, and partly outside (borders replicated).
    for (const [x0, y0, x1, y1] of [
      [5, 3, 25, 13],
      [0, 0, 37, 23],
      [-4, -2, 30, 9],
      [20, 15, 45, 29],
    ] as const) {
      const quad: [number, number][] = [
        [x0, y0],
        [x1, y0],
        [x1, y1],
        [x0, y1],
      ];
      // A billionth of a pixel off the grid takes the general warp: the same geometry.
      const warped = cropQuad(rgb, [[x0 + 1e-9, y0], ...quad.slice(1)], { rotateTall: false });
      const copied = cropQuad(rgb, quad, { rotateTall: false });
      expect([copied.width, copied.height]).toEqual([warped.width, warped.height]);
      expect(copied.data).toEqual(warped.data);
    }
  });

  it('straightens a tilted box (the homography maps the crop corners onto the quad)', () => {
    const quad: [number, number][] = [
      [4, 6],
      [30, 2],
      [33, 12],
      [7, 16],
    ];
    const h = homography(
      [
        [0, 0],
        [10, 0],
        [10, 5],
        [0, 5],
      ],
      quad,
    );
    const map = ([u, v]: [number, number]) => {
      const w = h[6]! * u + h[7]! * v + 1;
      return [(h[0]! * u + h[1]! * v + h[2]!) / w, (h[3]! * u + h[4]! * v + h[5]!) / w];
    };
    expect(map([10, 5])[0]).toBeCloseTo(33, 9);
    expect(map([10, 5])[1]).toBeCloseTo(12, 9);
    const crop = cropQuad(gradient, quad);
    expect([crop.width, crop.height]).toEqual([26, 10]);
  });

  it('turns tall crops a quarter turn (vertical text) and leaves others alone', () => {
    const tall = cropQuad(gradient, [
      [2, 2],
      [6, 2],
      [6, 18],
      [2, 18],
    ]);
    expect([tall.width, tall.height]).toEqual([16, 4]);
    // np.rot90: the top-right source pixel ends up top-left.
    expect(tall.data[0]).toBe(gradient.data[2 * 40 + 5]);
    const kept = cropQuad(
      gradient,
      [
        [2, 2],
        [6, 2],
        [6, 18],
        [2, 18],
      ],
      { rotateTall: false },
    );
    expect([kept.width, kept.height]).toEqual([4, 16]);
  });

  it('rotates by 180 degrees', () => {
    const turned = rotate180(gradient);
    expect(turned.data[0]).toBe(gradient.data[gradient.data.length - 1]);
    expect(rotate180(turned).data).toEqual(gradient.data);
  });
});
