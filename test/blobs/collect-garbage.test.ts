import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BlobInfo } from '../../src/blobs/blob-store.js';
import { collectGarbage } from '../../src/blobs/collect-garbage.js';
import { FsBlobStore } from '../../src/blobs/fs-blob-store.js';

const minute = 60_000;

describe('collectGarbage', () => {
  let root: string;
  let clock: number;
  let blobs: FsBlobStore;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'inferq-gc-'));
    clock = 1_700_000_000_000;
    blobs = await FsBlobStore.open(root, { now: () => clock });
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** A fake `referenced` that records what it was asked. */
  function referencedFrom(inUse: Set<string>) {
    const calls: string[][] = [];
    const referenced = async (sha256s: string[]): Promise<Set<string>> => {
      calls.push([...sha256s]);
      return new Set(sha256s.filter((s) => inUse.has(s)));
    };
    return { referenced, calls };
  }

  async function putAt(at: number, content: string): Promise<BlobInfo> {
    clock = at;
    return blobs.put(Buffer.from(content));
  }

  it('deletes unreferenced blobs past the grace period and keeps referenced and young ones', async () => {
    const start = clock;
    const referencedOld = await putAt(start, 'referenced and old');
    const orphanOld = await putAt(start, 'orphan and old, 30 bytes long');
    const orphanYoung = await putAt(start + 55 * minute, 'orphan but just stored');
    clock = start + 60 * minute;
    const { referenced, calls } = referencedFrom(new Set([referencedOld.sha256]));

    const result = await collectGarbage({ blobs, referenced, graceMs: 10 * minute, now: clock });

    expect(result).toEqual({ scanned: 3, deleted: 1, bytesFreed: orphanOld.size, tempFilesRemoved: 0 });
    expect(await blobs.stat(orphanOld.sha256)).toBeUndefined();
    expect(await blobs.stat(referencedOld.sha256)).toBeDefined();
    expect(await blobs.stat(orphanYoung.sha256)).toBeDefined();
    // Young blobs are not even asked about.
    expect(calls.flat().sort()).toEqual([orphanOld.sha256, referencedOld.sha256].sort());
  });

  it('asks about candidates in batches of batchSize', async () => {
    const stored = [];
    for (let i = 0; i < 7; i += 1) stored.push(await putAt(clock, `blob ${i}`));
    const { referenced, calls } = referencedFrom(new Set());
    const result = await collectGarbage({ blobs, referenced, graceMs: 0, now: clock + 1, batchSize: 3 });
    expect(calls.map((c) => c.length)).toEqual([3, 3, 1]);
    expect(result.deleted).toBe(7);
    expect(result.bytesFreed).toBe(stored.reduce((sum, b) => sum + b.size, 0));
  });

  it('keeps a blob stored again after it was listed', async () => {
    const old = await putAt(clock, 'uploaded again for a new task');
    const later = clock + 60 * minute;
    const referenced = async (): Promise<Set<string>> => {
      // A new task's put of the same bytes lands while the GC is deciding.
      clock = later;
      await blobs.put(Buffer.from('uploaded again for a new task'));
      return new Set<string>();
    };
    const result = await collectGarbage({ blobs, referenced, graceMs: 10 * minute, now: later });
    expect(result.deleted).toBe(0);
    expect(await blobs.stat(old.sha256)).toBeDefined();
  });

  it('deletes nothing when referenced fails', async () => {
    const old = await putAt(clock, 'old');
    const referenced = async (): Promise<Set<string>> => {
      throw new Error('store unreachable');
    };
    await expect(collectGarbage({ blobs, referenced, graceMs: 0, now: clock + minute })).rejects.toThrow(
      'store unreachable',
    );
    expect(await blobs.stat(old.sha256)).toBeDefined();
  });

  it('sweeps stale temp files of a store that has them', async () => {
    const stale = join(root, 'tmp', 'crashed.data');
    await writeFile(stale, 'partial');
    const longAgo = new Date(Date.now() - 3 * 60 * minute);
    await utimes(stale, longAgo, longAgo);
    const store = new FsBlobStore(root);
    const result = await collectGarbage({ blobs: store, referenced: async () => new Set(), graceMs: minute });
    expect(result.tempFilesRemoved).toBe(1);
  });

  it('refuses a negative grace period', async () => {
    await expect(collectGarbage({ blobs, referenced: async () => new Set(), graceMs: -1 })).rejects.toThrow(
      RangeError,
    );
  });
});
