import type { Point } from '../../runtime/ocr/geometry.js';
import type { RawImage } from '../../runtime/runtime.js';

/** What the coordinator asks of its pixel thread (pipeline-pixel-thread.ts). */
export type PixelRequest =
  | { id: number; op: 'crop'; image: RawImage; quads: Point[][] }
  | { id: number; op: 'rotate-180'; image: RawImage };

/** The pixel thread's answer: the images made, in request order, or why none were. */
export type PixelReply =
  | { id: number; ok: true; images: RawImage[] }
  | { id: number; ok: false; message: string };
