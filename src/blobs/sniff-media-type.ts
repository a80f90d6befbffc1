import { TextDecoder } from 'node:util';
import { fileTypeFromBuffer } from 'file-type';

/** What the bytes are, judged from the bytes alone. */
export interface SniffedMediaType {
  mediaType: string;
  /** Normalised extension without a dot (see {@link normaliseExtension}). */
  ext: string;
}

/** The answer when nothing better is known: opaque bytes. */
export const octetStream: Readonly<SniffedMediaType> = Object.freeze({
  mediaType: 'application/octet-stream',
  ext: 'bin',
});

/**
 * Bytes kept from the start of the content for `file-type`. Its own stream reader uses 4100;
 * a larger head costs little and lets container formats (zip-based Office files, MP4 boxes)
 * be recognised when their marker sits a little further in.
 */
export const sniffHeadBytes = 64 * 1024;

/**
 * Deciding "JSON that parses" needs the whole text, so text is only kept up to this size;
 * a larger text is reported as `text/plain`. This bounds the memory of a streamed put.
 */
export const jsonSniffMaxBytes = 4 * 1024 * 1024;

/**
 * One spelling per format, so `photo.jpeg` and `photo.jpg` end up with the same extension:
 * the spelling most tools write (`jpg`, `tiff`, `mpg`, `html`, `yaml`).
 */
const extensionAliases: Readonly<Record<string, string>> = {
  jpeg: 'jpg',
  jpe: 'jpg',
  jfif: 'jpg',
  tif: 'tiff',
  mpeg: 'mpg',
  htm: 'html',
  yml: 'yaml',
};

/** Lower-cases an extension, drops a leading dot and maps aliases to one spelling (`jpeg` → `jpg`, `tif` → `tiff`). */
export function normaliseExtension(ext: string): string {
  const lower = ext.trim().replace(/^\./, '').toLowerCase();
  return extensionAliases[lower] ?? lower;
}

/**
 * Incremental sniffer for content that arrives in chunks (a streamed blob put): keeps the first
 * {@link sniffHeadBytes} for `file-type`, validates UTF-8 and looks for NUL bytes across the
 * whole stream, and keeps text only while it could still be sniffed as JSON. Memory stays
 * bounded whatever the content size.
 */
export class MediaTypeSniffer {
  readonly #head = new Uint8Array(sniffHeadBytes);
  #headLength = 0;
  #size = 0;
  /** Undefined once the content is known not to be UTF-8 text. */
  #decoder: TextDecoder | undefined = new TextDecoder('utf-8', { fatal: true });
  /** Undefined once the text is too long to be sniffed as JSON. */
  #text: string[] | undefined = [];

  /** Feeds the next chunk; chunks must arrive in content order. */
  write(chunk: Uint8Array): void {
    if (this.#headLength < sniffHeadBytes) {
      const take = Math.min(chunk.length, sniffHeadBytes - this.#headLength);
      this.#head.set(chunk.subarray(0, take), this.#headLength);
      this.#headLength += take;
    }
    this.#size += chunk.length;
    if (this.#decoder === undefined) return;
    if (chunk.includes(0)) {
      this.#notText();
      return;
    }
    try {
      const text = this.#decoder.decode(chunk, { stream: true });
      this.#keepText(text);
    } catch {
      this.#notText();
    }
  }

  /** The media type of everything written so far. */
  async finish(): Promise<SniffedMediaType> {
    const head = this.#head.subarray(0, this.#headLength);
    if (head.length === 0) return { ...octetStream };
    const detected = await fileTypeFromBuffer(head);
    if (detected !== undefined) return { mediaType: detected.mime, ext: normaliseExtension(detected.ext) };
    if (this.#decoder === undefined) return { ...octetStream };
    try {
      // Flushes a multi-byte sequence cut off at the very end: the content is then not UTF-8.
      this.#keepText(this.#decoder.decode());
    } catch {
      this.#notText();
      return { ...octetStream };
    }
    if (this.#text !== undefined && isJsonDocument(this.#text.join(''))) {
      return { mediaType: 'application/json', ext: 'json' };
    }
    return { mediaType: 'text/plain', ext: 'txt' };
  }

  #keepText(text: string): void {
    if (this.#text === undefined) return;
    if (this.#size > jsonSniffMaxBytes) {
      this.#text = undefined;
      return;
    }
    this.#text.push(text);
  }

  #notText(): void {
    this.#decoder = undefined;
    this.#text = undefined;
  }
}

/**
 * Only an object or an array counts as a JSON document: a text file that happens to read `42`
 * or `true` is text to anyone who uploads it.
 */
function isJsonDocument(text: string): boolean {
  const first = text.trimStart()[0];
  if (first !== '{' && first !== '[') return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * The media type of `bytes` (the whole content), from the bytes only, never from a file name
 * or a declared header: a magic number that `file-type` knows; otherwise UTF-8 text without NUL
 * bytes is `text/plain` (`application/json` when it is a JSON object or array); anything else
 * (and empty content) is `application/octet-stream` / `bin`.
 */
export async function sniffMediaType(bytes: Uint8Array): Promise<SniffedMediaType> {
  // The same judgement as MediaTypeSniffer, without copying a head: most inputs are small and
  // arrive whole.
  if (bytes.length === 0) return { ...octetStream };
  const detected = await fileTypeFromBuffer(bytes.subarray(0, sniffHeadBytes));
  if (detected !== undefined) return { mediaType: detected.mime, ext: normaliseExtension(detected.ext) };
  if (bytes.includes(0)) return { ...octetStream };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { ...octetStream };
  }
  if (bytes.length <= jsonSniffMaxBytes && isJsonDocument(text)) {
    return { mediaType: 'application/json', ext: 'json' };
  }
  return { mediaType: 'text/plain', ext: 'txt' };
}
