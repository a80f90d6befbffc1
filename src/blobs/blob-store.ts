import type { Readable } from 'node:stream';

export interface BlobInfo {
  sha256: string;
  size: number;
  /** Sniffed from the bytes (never from a file name or a header); `application/octet-stream` if unknown. */
  mediaType: string;
  /** Normalised extension without a dot (`jpg`, never `jpeg`); `bin` if unknown. */
  ext: string;
  createdAt: number;
}

/** What a put answers: the blob, and whether this put is the one that stored it. */
export interface PutResult extends BlobInfo {
  /**
   * True when this put stored content that was not there; false when the content was there
   * already (or the store cannot tell), in which case {@link BlobStore.discardPut} keeps it.
   */
  created: boolean;
  /** Identifies this put to {@link BlobStore.discardPut}; opaque. */
  putId: string;
}

export interface PutOptions {
  /** Refuse (INFERQ_INPUT_TOO_LARGE) once more than this many bytes arrive. */
  maxBytes?: number;
}

/**
 * Content-addressed bytes. The same content is stored once; a write is atomic (a reader never
 * sees a partial blob, a crash never leaves one visible).
 */
export interface BlobStore {
  readonly kind: string;
  /** Streams `source` in, hashing as it goes. Throws INFERQ_STORAGE_FULL, INFERQ_INPUT_TOO_LARGE, INFERQ_INPUT_EMPTY. */
  put(source: Readable | Uint8Array, options?: PutOptions): Promise<PutResult>;
  /**
   * Undoes `put` for a request that was refused after storing it: deletes the blob only if that
   * put created it and no put has stored the same content since (another request, in this
   * process or another, that may be about to reference it). True if it was deleted. Whether a
   * committed task references it is the caller's to check first.
   */
  discardPut(put: PutResult): Promise<boolean>;
  stat(sha256: string): Promise<BlobInfo | undefined>;
  /** Throws INFERQ_BLOB_NOT_FOUND. */
  read(sha256: string): Promise<Readable>;
  readBytes(sha256: string): Promise<Buffer>;
  delete(sha256: string): Promise<boolean>;
  /** Every stored blob, for garbage collection and retention. */
  list(): AsyncIterable<BlobInfo>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
