import type { Readable } from 'node:stream';
import type { BlobStore, PutOptions, PutResult } from '../../blobs/blob-store.js';
import { InferqError, isInferqError } from '../../errors/index.js';
import type { StoredBytes } from './stored-bytes.js';

/** A tenant's storage quota, as one submission sees it. */
export interface SubmissionQuota {
  owner: string;
  /** The tenant's `maxStoredBytes`, else the server's `api.maxStoredBytes`; null for none. */
  limit: () => Promise<number | null>;
  storedBytes: StoredBytes;
}

/**
 * The blobs one submission stores: each put is bounded by the tenant's storage quota, and a
 * refused submission (413 at its 1,001st file, a 415 or 422 input, a quota or queue limit, a
 * client that went away mid-upload) takes back what it stored instead of leaving it on disk
 * until garbage collection, hours later.
 *
 * Blobs are content-addressed and shared, so only what this submission brought is deleted: a
 * blob its put created (not one that was there already), that no task references, and that no
 * put has stored again since — another submission, in this process or another, that may be about
 * to commit a task referencing it (the store's `discardPut` decides that atomically). When in
 * doubt, keep: garbage collection still removes an unreferenced blob after its grace period.
 * (Of a content sent twice in one refused submission, the second put refreshed the first: it is
 * kept, for garbage collection.)
 */
export class SubmissionBlobs {
  readonly #blobs: BlobStore;
  readonly #referenced: (sha256s: string[]) => Promise<Set<string>>;
  readonly #quota: SubmissionQuota | undefined;
  readonly #puts: PutResult[] = [];
  #limit: number | null | undefined;
  #used: { bytes: number; fresh: boolean } | undefined;

  constructor(options: {
    blobs: BlobStore;
    referenced: (sha256s: string[]) => Promise<Set<string>>;
    quota?: SubmissionQuota;
  }) {
    this.#blobs = options.blobs;
    this.#referenced = options.referenced;
    this.#quota = options.quota;
  }

  /**
   * Stores one input of the submission, at most `maxBytes` (the input limit) and at most what
   * the tenant's quota leaves: past the quota it is a 413 INFERQ_STORAGE_QUOTA_EXCEEDED, refused
   * while streaming (or before, when nothing is left), never after storing it all.
   */
  async put(source: Readable | Uint8Array, maxBytes: number): Promise<PutResult> {
    const room = await this.#room(maxBytes);
    if (room <= 0) {
      if (!(source instanceof Uint8Array)) source.resume();
      throw await this.#quotaExceeded(source instanceof Uint8Array ? source.length : undefined);
    }
    const options: PutOptions = { maxBytes: Math.min(maxBytes, room) };
    let put: PutResult;
    try {
      put = await this.#blobs.put(source, options);
    } catch (err) {
      if (room < maxBytes && isInferqError(err, 'INFERQ_INPUT_TOO_LARGE')) {
        throw await this.#quotaExceeded(source instanceof Uint8Array ? source.length : undefined);
      }
      throw err;
    }
    this.#puts.push(put);
    return put;
  }

  /** After the submission's tasks are committed: its inputs now count in the tenant's usage. */
  committed(): void {
    if (this.#quota !== undefined && this.#limit != null) {
      this.#quota.storedBytes.add(this.#quota.owner, this.#requestBytes());
    }
    this.#puts.length = 0;
  }

  /** Takes back what the submission stored (see the class comment); what it deleted. */
  async discard(): Promise<{ blobs: number; bytes: number }> {
    const created = this.#puts.filter((put) => put.created);
    this.#puts.length = 0;
    if (created.length === 0) return { blobs: 0, bytes: 0 };
    const inUse = await this.#referenced([...new Set(created.map((put) => put.sha256))]);
    let blobs = 0;
    let bytes = 0;
    for (const put of created) {
      if (inUse.has(put.sha256)) continue;
      if (await this.#blobs.discardPut(put)) {
        blobs += 1;
        bytes += put.size;
      }
    }
    return { blobs, bytes };
  }

  /** This submission's distinct inputs' bytes (each counts in the tenant's usage once). */
  #requestBytes(): number {
    const sizes = new Map(this.#puts.map((put) => [put.sha256, put.size]));
    let total = 0;
    for (const size of sizes.values()) total += size;
    return total;
  }

  /**
   * Bytes the quota leaves for the next input (Infinity without a quota). The tenant's usage is
   * counted again, once per submission, when the quota would bind this input, so that a refusal
   * rests on a fresh count, not on a stale estimate.
   */
  async #room(inputLimit: number): Promise<number> {
    if (this.#quota === undefined) return Number.POSITIVE_INFINITY;
    this.#limit ??= await this.#quota.limit();
    const limit = this.#limit;
    if (limit === null) return Number.POSITIVE_INFINITY;
    this.#used ??= { bytes: await this.#quota.storedBytes.used(this.#quota.owner), fresh: false };
    let room = limit - this.#used.bytes - this.#requestBytes();
    if (room < inputLimit && !this.#used.fresh) {
      this.#used = { bytes: await this.#quota.storedBytes.used(this.#quota.owner, true), fresh: true };
      room = limit - this.#used.bytes - this.#requestBytes();
    }
    return room;
  }

  async #quotaExceeded(size?: number): Promise<InferqError> {
    const { owner } = this.#quota!;
    const limit = this.#limit!;
    const used = this.#used?.bytes ?? 0;
    const adding = this.#requestBytes() + (size ?? 0);
    return new InferqError(
      'INFERQ_STORAGE_QUOTA_EXCEEDED',
      `tenant ${owner} keeps ${used} bytes of inputs stored and its quota is ${limit}; this request would add ${
        size === undefined ? `more than ${Math.max(0, limit - used - this.#requestBytes())}` : adding
      }: delete finished tasks (DELETE /v1/tasks/{id}?purge=true) or wait for retention to remove them`,
      { details: { limit, used, ...(size === undefined ? {} : { adding }) } },
    );
  }
}
