import type { RawImage } from '../../runtime/runtime.js';

/** Bytes of decoded pixels kept by default: a few hundred pages' crops in flight. */
const defaultMaxBytes = 64 * 1024 * 1024;

/**
 * Decoded pixels of the images pipeline steps made in this process (OCR crops, turned crops),
 * by the sha256 of the blob each was stored as. The blob stays the truth (a step in another
 * process, or after a restart, reads and decodes it); this spares a step in the same process
 * the PNG decode of what another step has just encoded: `crop-quads` puts its crops here, and
 * `rotate-180`, `ocr-cls` and `ocr-rec` take them as `{ image }` inputs (runtime.ts).
 *
 * Bounded by bytes, least recently used dropped first. {@link take} hands out a copy: a
 * runtime may take ownership of (transfer) what it is given, and several steps read one crop.
 */
export class PipelinePixels {
  readonly #images = new Map<string, RawImage>();
  #bytes = 0;
  #hits = 0;

  constructor(private readonly maxBytes = defaultMaxBytes) {}

  /** Keeps the pixels of blob `sha256`; takes ownership of `image.data` (not copied). */
  put(sha256: string, image: RawImage): void {
    if (image.data.byteLength > this.maxBytes) return;
    this.#drop(sha256);
    this.#images.set(sha256, image);
    this.#bytes += image.data.byteLength;
    for (const [key, kept] of this.#images) {
      if (this.#bytes <= this.maxBytes) break;
      this.#images.delete(key);
      this.#bytes -= kept.data.byteLength;
    }
  }

  /** A copy of the pixels of blob `sha256`, if kept. */
  take(sha256: string): RawImage | undefined {
    const image = this.#images.get(sha256);
    if (image === undefined) return undefined;
    // Re-inserted: most recently used last.
    this.#images.delete(sha256);
    this.#images.set(sha256, image);
    this.#hits++;
    return { ...image, data: image.data.slice() };
  }

  /** How many {@link take}s found their pixels (for tests and benches). */
  get hits(): number {
    return this.#hits;
  }

  #drop(sha256: string): void {
    const kept = this.#images.get(sha256);
    if (kept === undefined) return;
    this.#images.delete(sha256);
    this.#bytes -= kept.data.byteLength;
  }
}
