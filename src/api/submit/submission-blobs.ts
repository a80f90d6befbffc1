import type { Readable } from 'node:stream';
import type { BlobStore, PutResult } from '../../blobs/blob-store.js';
import { InferqError } from '../../errors/index.js';
import type { StoredBytes } from './stored-bytes.js';

/** A tenant's storage quota, as one submission sees it. */
export interface SubmissionQuota {
  owner: string;
  /** The tenant's `maxStoredBytes`, else the server's `api.maxStoredBytes`; null for none. */
  limit: () => Promise<number | null>;
  storedBytes: StoredBytes;
  /** Whether a task of the tenant already references this input (it then adds no bytes). */
  references: (sha256: string) => Promise<boolean>;
}

/**
 * The blobs one submission stores: they are held to the tenant's storage quota, and a refused
 * submission (413 at its 1,001st file, a 415 or 422 input, a quota or queue limit, a
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
  /** Per input of this submission: the bytes it adds to the tenant's usage (0 for a repeat). */
  readonly #adding = new Map<string, number>();
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
   * Stores one input of the submission (at most `maxBytes`, the input limit), then holds the
   * submission to the tenant's storage quota: an input the tenant stores already (a repeat, a
   * cache hit) adds nothing; past the quota it is a 413 INFERQ_STORAGE_QUOTA_EXCEEDED, and the
   * refusal takes back what the submission stored. The check comes after the put because only
   * the hash tells a repeat from new bytes; what an upload may store meanwhile is bounded by the
   * input limit.
   */
  async put(source: Readable | Uint8Array, maxBytes: number): Promise<PutResult> {
    const put = await this.#blobs.put(source, { maxBytes });
    this.#puts.push(put);
    if (this.#quota === undefined) return put;
    this.#limit ??= await this.#quota.limit();
    if (this.#limit !== null && !this.#adding.has(put.sha256)) {
      const isNew = put.created || !(await this.#quota.references(put.sha256));
      this.#adding.set(put.sha256, isNew ? put.size : 0);
      await this.#checkQuota(put.size);
    }
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

  /** Bytes this submission adds to the tenant's stored inputs (new inputs only, each once). */
  #requestBytes(): number {
    let total = 0;
    for (const bytes of this.#adding.values()) total += bytes;
    return total;
  }

  /**
   * Refuses when the tenant's usage plus this submission's new bytes passes its quota. The usage
   * is counted again, once per submission, before a refusal, so that it rests on a fresh count,
   * not on a stale estimate.
   */
  async #checkQuota(size: number): Promise<void> {
    const quota = this.#quota!;
    const limit = this.#limit!;
    this.#used ??= { bytes: await quota.storedBytes.used(quota.owner), fresh: false };
    if (this.#used.bytes + this.#requestBytes() <= limit) return;
    if (!this.#used.fresh) {
      this.#used = { bytes: await quota.storedBytes.used(quota.owner, true), fresh: true };
      if (this.#used.bytes + this.#requestBytes() <= limit) return;
    }
    const used = this.#used.bytes;
    const adding = this.#requestBytes();
    throw new InferqError(
      'INFERQ_STORAGE_QUOTA_EXCEEDED',
      `tenant ${quota.owner} keeps ${used} bytes of inputs stored and its quota is ${limit}; this request would add ${adding} (this input ${size}): delete finished tasks (DELETE /v1/tasks/{id}?purge=true) or wait for retention to remove them`,
      { details: { limit, used, adding } },
    );
  }
}
