import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../src/blobs/fs-blob-store.js';
import { isInferqError } from '../../src/errors/index.js';
import { runBlobStoreContract } from '../contracts/blob-store.contract.js';
import { eventually } from '../fixtures/eventually.js';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Every regular file under `dir`, relative to it, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

runBlobStoreContract('fs', async () => {
  const root = await mkdtemp(join(tmpdir(), 'inferq-fs-blobs-'));
  return {
    blobs: await FsBlobStore.open(root),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});

describe('FsBlobStore', () => {
  let root: string;
  let clock: number;
  let blobs: FsBlobStore;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'inferq-fs-blobs-'));
    clock = 1_700_000_000_000;
    blobs = await FsBlobStore.open(root, { now: () => clock });
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('lays a blob out as <aa>/<bb>/<sha256> with its metadata in a sidecar', async () => {
    const bytes = Buffer.from('layout');
    const hash = sha256(bytes);
    const info = await blobs.put(bytes);
    const dataPath = join(hash.slice(0, 2), hash.slice(2, 4), hash);
    expect(await filesUnder(root)).toEqual([dataPath, `${dataPath}.json`]);
    expect(JSON.parse(await readFile(join(root, `${dataPath}.json`), 'utf8'))).toEqual({
      size: 6,
      mediaType: 'text/plain',
      ext: 'txt',
      createdAt: clock,
      putId: info.putId,
    });
    expect(info.createdAt).toBe(clock);
  });

  it('leaves no visible blob and no temp file when the source fails midway', async () => {
    let sent = 0;
    const source = new Readable({
      read() {
        if (sent < 4) {
          sent += 1;
          this.push(randomBytes(64 * 1024));
        } else {
          this.destroy(new Error('connection reset'));
        }
      },
    });
    await expect(blobs.put(source)).rejects.toThrow('connection reset');
    expect(await filesUnder(root)).toEqual([]);
  });

  it('leaves no temp file when maxBytes is exceeded', async () => {
    await expect(
      blobs.put(Readable.from([randomBytes(4096), randomBytes(4096)]), { maxBytes: 5000 }),
    ).rejects.toSatisfy((err: unknown) => isInferqError(err, 'INFERQ_INPUT_TOO_LARGE'));
    expect(await filesUnder(root)).toEqual([]);
  });

  it('refreshes createdAt when stored content is put again, so GC grace covers the new use', async () => {
    const first = await blobs.put(Buffer.from('again'));
    clock += 60_000;
    const second = await blobs.put(Buffer.from('again'));
    expect(second).toEqual({
      ...first,
      createdAt: first.createdAt + 60_000,
      created: false,
      putId: second.putId,
    });
    const { created: _created, putId: _putId, ...stored } = second;
    expect(await blobs.stat(first.sha256)).toEqual(stored);
  });

  it('rebuilds missing or corrupt metadata from the bytes', async () => {
    const png = Buffer.from(
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
      'base64',
    );
    const info = await blobs.put(png);
    const sidecar = join(root, info.sha256.slice(0, 2), info.sha256.slice(2, 4), `${info.sha256}.json`);
    await unlink(sidecar);
    expect(await blobs.stat(info.sha256)).toMatchObject({
      sha256: info.sha256,
      size: png.length,
      mediaType: 'image/png',
      ext: 'png',
    });
    await writeFile(sidecar, '{not json');
    expect(await blobs.stat(info.sha256)).toMatchObject({ mediaType: 'image/png', ext: 'png' });
    expect(JSON.parse(await readFile(sidecar, 'utf8'))).toMatchObject({
      mediaType: 'image/png',
      size: png.length,
    });
  });

  it('sweeps temp files older than an hour and keeps younger ones', async () => {
    const tmp = join(root, 'tmp');
    await writeFile(join(tmp, 'old.data'), 'left by a crash');
    await writeFile(join(tmp, 'young.data'), 'a put in progress');
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await utimes(join(tmp, 'old.data'), twoHoursAgo, twoHoursAgo);
    const store = new FsBlobStore(root); // real clock: the files carry real mtimes
    expect(await store.sweepTemp()).toBe(1);
    expect(await readdir(tmp)).toEqual(['young.data']);
  });

  it('at open, sweeps the temp files of a put whose process was killed, whatever their age', async () => {
    // A real crash: a process streams a put that never ends, and is killed with SIGKILL.
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `import { Readable } from 'node:stream';
         import { FsBlobStore } from ${JSON.stringify(join(process.cwd(), 'src/blobs/fs-blob-store.ts'))};
         const blobs = await FsBlobStore.open(${JSON.stringify(root)});
         const endless = new Readable({ read() { setTimeout(() => this.push(Buffer.alloc(65536, 1)), 5); } });
         void blobs.put(endless);
         setTimeout(() => console.log('writing'), 300);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const tmp = join(root, 'tmp');
    const left = await readdir(tmp);
    expect(left.length).toBeGreaterThan(0);
    // A put in progress in a live process (this one), and a file written on another host: kept.
    const source = new Readable({ read() {} });
    const live = blobs.put(source);
    source.push(Buffer.from('half of it, '));
    await eventually(async () => expect((await readdir(tmp)).length).toBeGreaterThan(left.length), {
      timeoutMs: 25_000,
      intervalMs: 5,
    });
    await writeFile(join(tmp, `otherhost.${process.pid}.0000abcd.${randomUUID()}.data`), 'theirs');
    const kept = (await readdir(tmp)).filter((n) => !left.includes(n));
    expect(kept).toHaveLength(2);
    const reopened = await FsBlobStore.open(root);
    expect((await readdir(tmp)).sort()).toEqual(kept.sort());
    source.push(Buffer.from('the rest'));
    source.push(null);
    const stored = await live;
    expect((await reopened.readBytes(stored.sha256)).toString()).toBe('half of it, the rest');
  });

  it('ignores files in the tree that are not blobs', async () => {
    const info = await blobs.put(Buffer.from('real'));
    await mkdir(join(root, 'zz'), { recursive: true });
    await writeFile(join(root, 'zz', 'notes.txt'), 'hello');
    await writeFile(join(root, 'README'), 'hello');
    const listed = [];
    for await (const b of blobs.list()) listed.push(b.sha256);
    expect(listed).toEqual([info.sha256]);
  });
});

/**
 * A real full disk: a 1 MiB tmpfs, mounted while the tests are collected so that a skip can say
 * why in its title. Needs root with the right to mount (not every container grants it); the
 * test is skipped rather than faked elsewhere, because the point is the kernel's ENOSPC path.
 */
function mountTinyTmpfs(): { mountPoint: string } | { reason: string } {
  if (process.platform !== 'linux') return { reason: 'tmpfs mounts need Linux' };
  if (process.getuid?.() !== 0) return { reason: 'mounting a tmpfs needs root' };
  const dir = mkdtempSync(join(tmpdir(), 'inferq-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'pipe' });
    return { mountPoint: dir };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    return { reason: `mount -t tmpfs failed: ${stderr || (err as Error).message}` };
  }
}

describe('FsBlobStore on a full disk', () => {
  const title = 'throws INFERQ_STORAGE_FULL for a 2 MB put into 1 MiB and leaves no file behind';
  const tmpfs = mountTinyTmpfs();
  if ('reason' in tmpfs) {
    it.skip(`${title} (skipped: ${tmpfs.reason})`, () => {});
    return;
  }
  const { mountPoint } = tmpfs;

  afterAll(async () => {
    try {
      execFileSync('umount', [mountPoint], { stdio: 'pipe' });
    } finally {
      await rm(mountPoint, { recursive: true, force: true });
    }
  });

  it(title, async () => {
    const root = join(mountPoint, 'blobs');
    const store = await FsBlobStore.open(root);
    const small = await store.put(Buffer.from('fits'));
    const chunks = Array.from({ length: 32 }, () => randomBytes(64 * 1024)); // 2 MiB
    const err = await store.put(Readable.from(chunks)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isInferqError(err, 'INFERQ_STORAGE_FULL')).toBe(true);
    const hash = small.sha256;
    const smallPath = join(hash.slice(0, 2), hash.slice(2, 4), hash);
    expect(await filesUnder(root)).toEqual([smallPath, `${smallPath}.json`]);
    // The space came back: a put that fits succeeds afterwards.
    expect((await store.put(randomBytes(100_000))).size).toBe(100_000);
  });
});
