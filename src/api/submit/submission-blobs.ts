import type { BlobStore, PutResult } from '../../blobs/blob-store.js';

/**
 * The blobs one submission stored, so that a refused submission (413 at its 1,001st file, a 415
 * or 422 input, a queue limit, a client that went away mid-upload) takes back what it stored
 * instead of leaving it on disk until garbage collection, hours later.
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
  readonly #puts: PutResult[] = [];

  constructor(blobs: BlobStore, referenced: (sha256s: string[]) => Promise<Set<string>>) {
    this.#blobs = blobs;
    this.#referenced = referenced;
  }

  /** Notes a put made for this submission. */
  record(put: PutResult): void {
    this.#puts.push(put);
  }

  /** Bytes of the blobs this submission created (what a refusal would take back). */
  get createdBytes(): number {
    return this.#puts.reduce((sum, put) => sum + (put.created ? put.size : 0), 0);
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
}
