/**
 * Entry of the pipeline pixel thread ({@link PixelThread}): the per-pixel work of the OCR
 * transforms (the perspective warp of `crop-quads`, the half turn of `rotate-180`), which is
 * plain JavaScript loops: about 20 ms per tilted line on one core, that would otherwise stall
 * the coordinator's event loop (and every model batch and store write it dispatches).
 */
import { parentPort } from 'node:worker_threads';
import { cropQuad, rotate180 } from '../../runtime/ocr/crop-quad.js';
import type { PixelReply, PixelRequest } from './pipeline-pixel-messages.js';

const port = parentPort;
if (port === null) throw new Error('pipeline-pixel-thread must run in a worker thread');

port.on('message', (request: PixelRequest) => {
  try {
    const images =
      request.op === 'crop'
        ? request.quads.map((quad) => cropQuad(request.image, quad))
        : [rotate180(request.image)];
    const reply: PixelReply = { id: request.id, ok: true, images };
    port.postMessage(
      reply,
      images.map((image) => image.data.buffer as ArrayBuffer),
    );
  } catch (err) {
    const reply: PixelReply = { id: request.id, ok: false, message: (err as Error).message ?? String(err) };
    port.postMessage(reply);
  }
});
