import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../src/blobs/fs-blob-store.js';
import { InlineBlobStore } from '../../src/blobs/inline-blob-store.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import { runBlobStoreContract } from '../contracts/blob-store.contract.js';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Files the large (fs) side holds, temp files aside. */
async function storedFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && !e.parentPath.endsWith('tmp')).map((e) => e.name);
}

// The contract with a small threshold, so its small samples live in SQLite and its large ones
// (images, the 128 MB stream) in files.
runBlobStoreContract('inline (SQLite) + fs', async () => {
  const root = await mkdtemp(join(tmpdir(), 'inferq-inline-blobs-'));
  const files = await FsBlobStore.open(join(root, 'files'));
  return {
    blobs: InlineBlobStore.open(join(root, 'inferq.db'), files, { inlineMaxBytes: 1024 }),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});

describe('InlineBlobStore', () => {
  let root: string;
  let blobs: InlineBlobStore;
  const filesDir = () => join(root, 'files');

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'inferq-inline-blobs-'));
    blobs = InlineBlobStore.open(join(root, 'inferq.db'), await FsBlobStore.open(filesDir()), {
      inlineMaxBytes: 1024,
    });
  });
  afterEach(async () => {
    await blobs.close();
    await rm(root, { recursive: true, force: true });
  });

  it('keeps contents up to the threshold in the database and larger ones in files', async () => {
    const small = randomBytes(1024);
    const large = randomBytes(1025);
    await blobs.put(small);
    await blobs.put(large);
    expect(await storedFiles(filesDir())).toEqual(expect.arrayContaining([sha256(large)]));
    expect((await storedFiles(filesDir())).some((name) => name.startsWith(sha256(small)))).toBe(false);
    expect(await blobs.readBytes(sha256(small))).toEqual(small);
    expect(await blobs.readBytes(sha256(large))).toEqual(large);
  });

  it('hands a stream that outgrows the threshold to the file store whole, in order', async () => {
    const chunks = Array.from({ length: 10 }, () => randomBytes(300));
    const whole = Buffer.concat(chunks);
    const info = await blobs.put(Readable.from(chunks));
    expect(info).toMatchObject({ sha256: sha256(whole), size: whole.length });
    expect(await storedFiles(filesDir())).toContain(sha256(whole));
    expect(await blobs.readBytes(info.sha256)).toEqual(whole);
  });

  it('shares the task database file without disturbing the task store', async () => {
    const file = join(root, 'shared.db');
    const store = SqliteTaskStore.open(file);
    const shared = InlineBlobStore.open(file, await FsBlobStore.open(join(root, 'more')), {
      inlineMaxBytes: 64,
    });
    try {
      const info = await shared.put(Buffer.from('hello from the same file'));
      await store.ping();
      expect((await shared.stat(info.sha256))?.mediaType).toBe('text/plain');
    } finally {
      await shared.close();
      await store.close();
    }
  });

  it('refreshes createdAt when stored content is put again', async () => {
    let clock = 1_000;
    const timed = InlineBlobStore.open(join(root, 'timed.db'), await FsBlobStore.open(join(root, 't')), {
      inlineMaxBytes: 1024,
      now: () => clock,
    });
    try {
      await timed.put(Buffer.from('same'));
      clock = 5_000;
      expect((await timed.put(Buffer.from('same'))).createdAt).toBe(5_000);
    } finally {
      await timed.close();
    }
  });
});
