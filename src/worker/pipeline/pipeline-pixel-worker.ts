import { Worker } from 'node:worker_threads';
import type { Point } from '../../runtime/ocr/geometry.js';
import type { RawImage } from '../../runtime/runtime.js';
import { threadEntry } from '../../runtime/thread-entry.js';
import type { PixelReply, PixelRequest } from './pipeline-pixel-messages.js';

const entry = threadEntry(import.meta.url, 'pipeline-pixel-thread');

interface Pending {
  /** The thread it was sent to: a thread that dies fails only its own calls. */
  worker: Worker;
  resolve: (images: RawImage[]) => void;
  reject: (err: Error) => void;
}

/**
 * The OCR transforms' per-pixel work, run on one worker thread so that it never stalls the
 * coordinator's event loop (pipeline-pixel-thread.ts). Started on first use and again after a
 * crash (the calls in flight then reject, a transient fault: the wake-up is retried); the
 * thread is unref'd, so an idle one keeps no process alive. The pixels given are transferred
 * to the thread (the caller's arrays are detached); the results are transferred back.
 */
export class PixelThread {
  #worker: Worker | undefined;
  #next = 0;
  #answered = 0;
  readonly #pending = new Map<number, Pending>();

  /** Each quadrilateral of `image` straightened into a rectangle (`cropQuad`), in order. */
  crop(image: RawImage, quads: Point[][]): Promise<RawImage[]> {
    return this.#send((id) => ({ id, op: 'crop', image: owned(image), quads }));
  }

  /** `image` turned half a turn (`rotate180`). */
  async rotate180(image: RawImage): Promise<RawImage> {
    const [turned] = await this.#send((id) => ({ id, op: 'rotate-180', image: owned(image) }));
    return turned!;
  }

  /** How many calls the thread has answered (for tests). */
  get answered(): number {
    return this.#answered;
  }

  /** Stops the thread; calls in flight reject. */
  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.terminate();
  }

  #send(request: (id: number) => PixelRequest): Promise<RawImage[]> {
    const worker = this.#start();
    const message = request(this.#next++);
    return new Promise<RawImage[]>((resolve, reject) => {
      this.#pending.set(message.id, { worker, resolve, reject });
      try {
        worker.postMessage(message, [message.image.data.buffer as ArrayBuffer]);
      } catch {
        // A buffer that cannot be detached (memory a native addon owns) goes as a copy.
        worker.postMessage({ ...message, image: { ...message.image, data: message.image.data.slice() } });
      }
    });
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = new Worker(entry.url, { name: 'inferq-pipeline-pixels', execArgv: entry.execArgv });
    worker.unref();
    worker.on('message', (reply: PixelReply) => {
      const pending = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      this.#answered++;
      if (reply.ok) pending?.resolve(reply.images);
      else pending?.reject(new Error(`pipeline pixel thread: ${reply.message}`));
    });
    const fail = (err: Error) => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const [id, pending] of this.#pending) {
        if (pending.worker !== worker) continue;
        this.#pending.delete(id);
        pending.reject(err);
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the pipeline pixel thread exited (code ${code})`)));
    this.#worker = worker;
    return worker;
  }
}

/** `image` on an ArrayBuffer of its own, so transferring it moves exactly its pixels. */
function owned(image: RawImage): RawImage {
  const { data } = image;
  if (
    data.byteOffset === 0 &&
    data.byteLength === data.buffer.byteLength &&
    data.buffer instanceof ArrayBuffer
  ) {
    return image;
  }
  return { ...image, data: data.slice() };
}
