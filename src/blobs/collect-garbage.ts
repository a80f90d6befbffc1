import type { BlobInfo, BlobStore } from './blob-store.js';

export interface CollectGarbageOptions {
  blobs: BlobStore;
  /**
   * Of `sha256s`, the ones still in use (typically `TaskStore.referencedInputs`). Passed in as a
   * function so this layer never imports the store layer.
   */
  referenced: (sha256s: string[]) => Promise<Set<string>>;
  /**
   * Blobs younger than this are kept even if unreferenced: an API host stores the input first
   * and commits the task that references it a moment later.
   */
  graceMs: number;
  /** Clock reading for this run (ms since epoch); default `Date.now()`. */
  now?: number;
  /** Hashes per `referenced` call (default 500). */
  batchSize?: number;
}

export interface CollectGarbageResult {
  /** Blobs listed. */
  scanned: number;
  deleted: number;
  bytesFreed: number;
  /** Stale temp files removed, for stores that keep them (see {@link TempSweeper}). */
  tempFilesRemoved: number;
}

/** A store that leaves temp files behind when a process crashes mid-put (the fs store). */
export interface TempSweeper {
  sweepTemp(): Promise<number>;
}

function hasTempSweeper(blobs: BlobStore): blobs is BlobStore & TempSweeper {
  return typeof (blobs as Partial<TempSweeper>).sweepTemp === 'function';
}

const defaultBatchSize = 500;

/**
 * Mark and sweep: lists every blob, asks `referenced` about those older than the grace period
 * (in batches), and deletes the rest. Just before deleting, the blob is looked at again and kept
 * if it was stored anew meanwhile (its `createdAt` moved into the grace period), which narrows
 * the race with a put of the same content for a task about to be committed.
 *
 * An error from `referenced` aborts the run before anything of that batch is deleted: when in
 * doubt, keep.
 */
export async function collectGarbage(options: CollectGarbageOptions): Promise<CollectGarbageResult> {
  const { blobs, referenced, graceMs } = options;
  const now = options.now ?? Date.now();
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? defaultBatchSize));
  if (!Number.isFinite(graceMs) || graceMs < 0) {
    throw new RangeError(`graceMs must be a non-negative number, got ${graceMs}`);
  }
  const cutoff = now - graceMs;
  const result: CollectGarbageResult = { scanned: 0, deleted: 0, bytesFreed: 0, tempFilesRemoved: 0 };

  let batch: BlobInfo[] = [];
  const sweep = async (candidates: BlobInfo[]): Promise<void> => {
    const inUse = await referenced(candidates.map((info) => info.sha256));
    for (const info of candidates) {
      if (inUse.has(info.sha256)) continue;
      const current = await blobs.stat(info.sha256);
      if (current === undefined || current.createdAt >= cutoff) continue;
      if (await blobs.delete(info.sha256)) {
        result.deleted += 1;
        result.bytesFreed += current.size;
      }
    }
  };

  for await (const info of blobs.list()) {
    result.scanned += 1;
    if (info.createdAt >= cutoff) continue;
    batch.push(info);
    if (batch.length >= batchSize) {
      await sweep(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await sweep(batch);

  if (hasTempSweeper(blobs)) result.tempFilesRemoved = await blobs.sweepTemp();
  return result;
}
