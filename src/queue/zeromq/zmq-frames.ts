/**
 * The wire format between API hosts and remote fast-path workers: ZeroMQ multipart messages
 * whose first frame names the kind. A value travels as one JSON frame plus one frame per byte
 * buffer in it (images stay raw bytes, never base64): each buffer is replaced in the JSON by
 * `{ "\u0000bin": i }`, the index of its frame.
 *
 *   API → worker: `req, id, header, ...buffers`   header: { model, version?, body }
 *                 `cancel, id`                    the caller went away
 *                 `ping, seq`
 *   worker → API: `rep, id, header, ...buffers`   header: { ok: true, body } | { ok: false, error: { code, message, details? } }
 *                 `pong, seq, { models, inFlight }`
 */

const binKey = '\u0000bin';

export type FrameKind = 'req' | 'cancel' | 'ping' | 'rep' | 'pong';

/** A value as frames: its JSON (buffers replaced by references) and the buffers. */
export function encodeValue(value: unknown): { json: string; buffers: Buffer[] } {
  const buffers: Buffer[] = [];
  const json = JSON.stringify(value, function (this: unknown, key: string, v: unknown) {
    // JSON.stringify has already turned a Buffer into { type: 'Buffer', data }: read the holder.
    const raw = (this as Record<string, unknown>)[key];
    if (raw instanceof Uint8Array) {
      buffers.push(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength));
      return { [binKey]: buffers.length - 1 };
    }
    return v;
  });
  return { json: json ?? 'null', buffers };
}

/** The value {@link encodeValue} wrote; buffer references become Buffers again. */
export function decodeValue(json: string, buffers: readonly Buffer[]): unknown {
  return JSON.parse(json, (_key, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const ref = (v as Record<string, unknown>)[binKey];
      if (typeof ref === 'number' && Object.keys(v).length === 1) {
        const buffer = buffers[ref];
        if (buffer === undefined) throw new Error(`frame ${ref} is missing`);
        return buffer;
      }
    }
    return v;
  });
}

/** `kind, id, json, ...buffers` for a value. */
export function valueFrames(kind: FrameKind, id: string, value: unknown): Buffer[] {
  const { json, buffers } = encodeValue(value);
  return [Buffer.from(kind), Buffer.from(id), Buffer.from(json), ...buffers];
}

/** The value of `kind, id, json, ...buffers` frames (from index `at` of `frames`). */
export function frameValue(frames: readonly Buffer[], at: number): unknown {
  const json = frames[at];
  if (json === undefined) throw new Error('the JSON frame is missing');
  return decodeValue(json.toString('utf8'), frames.slice(at + 1));
}

/**
 * Serialises sends on one socket: a ZeroMQ socket allows one send in flight at a time. A send
 * that cannot be queued now (no connected peer, full queue) rejects with EAGAIN at once instead
 * of waiting (`sendTimeout: 0`), so the caller can route elsewhere.
 */
export class SendQueue {
  readonly #send: (frames: Buffer[]) => Promise<void>;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(send: (frames: Buffer[]) => Promise<void>) {
    this.#send = send;
  }

  send(frames: Buffer[]): Promise<void> {
    const sent = this.#tail.then(() => this.#send(frames));
    this.#tail = sent.catch(() => undefined);
    return sent;
  }
}
