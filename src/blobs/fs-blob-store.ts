import { createHash, randomUUID } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import {
  access,
  type FileHandle,
  link,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  stat,
  unlink,
} from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { InferqError, isInferqError } from '../errors/index.js';
import { blobNotFound, checkHash, inputTooLarge } from './blob-errors.js';
import type { BlobInfo, BlobStore, PutOptions, PutResult } from './blob-store.js';
import { MediaTypeSniffer } from './sniff-media-type.js';
import { isOrphanTemp, tempFileName } from './temp-file-owner.js';

export interface FsBlobStoreOptions {
  /** Clock for `createdAt` and the temp-file age (tests pass a fake). */
  now?: () => number;
  /** Temp files older than this are leftovers of a crashed put and are swept (default one hour). */
  tempMaxAgeMs?: number;
}

/** What the sidecar `<sha256>.json` holds; the hash is the file name. */
interface Sidecar {
  size: number;
  mediaType: string;
  ext: string;
  createdAt: number;
  /** The put that wrote it last (absent in sidecars of older versions and rebuilt ones). */
  putId?: string;
}

const tempDirName = 'tmp';
const fanOutPattern = /^[0-9a-f]{2}$/;
/** Slices of a `Uint8Array` source written at a time, so one huge array is not one huge write. */
const writeSliceBytes = 1024 * 1024;
const defaultTempMaxAgeMs = 60 * 60 * 1000;

/**
 * Blobs as files: `<root>/<aa>/<bb>/<sha256>` holds the bytes and `<sha256>.json` next to it the
 * metadata. A put streams into `<root>/tmp/` (same filesystem, so the final rename is atomic),
 * hashing and sniffing as it goes, fsyncs the bytes, writes the sidecar, then renames the data
 * into place: a visible blob is always complete, and a crash leaves at most a temp file that
 * {@link FsBlobStore.sweepTemp} removes later.
 *
 * Durability matches the SQLite store's `synchronous = NORMAL`: everything survives a process
 * crash; an operating-system crash may lose the most recent renames (directories and sidecars
 * are not fsynced — that cost 3 extra fsyncs per put and halved the submit rate). A sidecar
 * lost that way is rebuilt from the bytes on the next read; a lost blob reads as
 * `INFERQ_BLOB_NOT_FOUND`, never as partial bytes, because the bytes are fsynced before the
 * rename that makes them visible.
 *
 * Several processes (or hosts on a shared volume) may use one root: every step is a rename, a
 * link or an idempotent write of identical content, so concurrent puts of the same bytes are
 * safe. The data file is published with `link` (fails if it exists), so exactly one of
 * concurrent puts of new content learns that it `created` the blob; every put writes its own
 * `putId` into the sidecar, which is how {@link FsBlobStore.discardPut} knows no put came since.
 *
 * `createdAt` is refreshed when already-stored content is put again. The garbage collector's
 * grace period is measured from it; without the refresh, re-uploading an old unreferenced blob
 * for a new task could see the blob collected before that task is committed.
 */
export class FsBlobStore implements BlobStore {
  readonly kind = 'fs';
  readonly rootDir: string;
  readonly #tempDir: string;
  readonly #now: () => number;
  readonly #tempMaxAgeMs: number;
  #ready: Promise<void> | undefined;

  constructor(rootDir: string, options: FsBlobStoreOptions = {}) {
    this.rootDir = rootDir;
    this.#tempDir = join(rootDir, tempDirName);
    this.#now = options.now ?? Date.now;
    this.#tempMaxAgeMs = options.tempMaxAgeMs ?? defaultTempMaxAgeMs;
  }

  /**
   * Creates the root if needed and sweeps temp files left by a crashed process: at once for a
   * writer known dead (see temp-file-owner.ts: same host, its pid gone), else after the age rule.
   */
  static async open(rootDir: string, options: FsBlobStoreOptions = {}): Promise<FsBlobStore> {
    const store = new FsBlobStore(rootDir, options);
    await store.#ensureDirs();
    await store.sweepTemp();
    return store;
  }

  async put(source: Readable | Uint8Array, options: PutOptions = {}): Promise<PutResult> {
    const maxBytes = options.maxBytes;
    if (maxBytes !== undefined && source instanceof Uint8Array && source.length > maxBytes) {
      throw inputTooLarge(maxBytes);
    }
    const tempData = this.#tempPath('data');
    const tempMeta = this.#tempPath('meta');
    const putId = randomUUID();
    try {
      await this.#ensureDirs();
      const written = await this.#writeTemp(tempData, source, maxBytes);
      const createdAt = this.#now();
      const sha256 = written.sha256;
      const dataPath = this.#dataPath(sha256);
      const existing = await this.#refreshExisting(sha256, createdAt, putId);
      if (existing !== undefined) {
        await discard(tempData);
        return { ...existing, created: false, putId };
      }
      const sidecar = { size: written.size, ...(await written.sniffer.finish()), createdAt };
      const dir = this.#dirOf(sha256);
      await mkdir(dir, { recursive: true });
      // Metadata first: once the data is in place, readers must find its sidecar.
      await writeNewFile(tempMeta, JSON.stringify({ ...sidecar, putId }));
      await rename(tempMeta, sidecarPathOf(dataPath));
      const created = await publish(tempData, dataPath);
      if (!created) {
        // A concurrent put of the same content published first: it is theirs, refreshed by us.
        const refreshed = await this.#refreshExisting(sha256, createdAt, putId);
        if (refreshed !== undefined) {
          await discard(tempData);
          return { ...refreshed, created: false, putId };
        }
        await rename(tempData, dataPath); // deleted in between: ours after all, but not claimed
        return { sha256, ...sidecar, created: false, putId };
      }
      return { sha256, ...sidecar, created: true, putId };
    } catch (err) {
      await discard(tempData);
      await discard(tempMeta);
      throw mapWriteError(err);
    }
  }

  async stat(sha256: string): Promise<BlobInfo | undefined> {
    checkHash(sha256);
    return this.#readInfo(sha256);
  }

  async read(sha256: string): Promise<Readable> {
    checkHash(sha256);
    // Opening first turns a missing blob into a rejected promise, not a later stream error.
    let handle: FileHandle;
    try {
      handle = await open(this.#dataPath(sha256), 'r');
    } catch (err) {
      throw isNotFound(err) ? blobNotFound(sha256) : err;
    }
    return handle.createReadStream({ autoClose: true });
  }

  async readBytes(sha256: string): Promise<Buffer> {
    checkHash(sha256);
    try {
      return await readFile(this.#dataPath(sha256));
    } catch (err) {
      throw isNotFound(err) ? blobNotFound(sha256) : err;
    }
  }

  /**
   * Deletes the blob if `put` created it and its sidecar still names that put. The data is first
   * moved aside (atomic), and the sidecar read again: a put that refreshed the blob meanwhile
   * wrote its own putId before checking that the data exists, so either it is seen here and the
   * data is moved back, or it finds no data and stores its own copy. No put is ever left
   * referencing deleted bytes.
   */
  async discardPut(put: PutResult): Promise<boolean> {
    checkHash(put.sha256);
    if (!put.created) return false;
    const dataPath = this.#dataPath(put.sha256);
    const lastPut = async () => {
      try {
        return parseSidecar(await readFile(sidecarPathOf(dataPath), 'utf8'))?.putId;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    };
    if ((await lastPut()) !== put.putId) return false;
    await this.#ensureDirs();
    const aside = this.#tempPath('data');
    try {
      await rename(dataPath, aside);
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
    if ((await lastPut()) !== put.putId) {
      // Put again meanwhile: back in place (if that put stored its own copy, it is the same bytes).
      await publish(aside, dataPath);
      await discard(aside);
      return false;
    }
    await discard(aside);
    if ((await lastPut()) === put.putId) await removeQuietly(sidecarPathOf(dataPath));
    return true;
  }

  async delete(sha256: string): Promise<boolean> {
    checkHash(sha256);
    const dataPath = this.#dataPath(sha256);
    // Data first: a sidecar without data is invisible and harmless, data without a sidecar is not.
    const existed = await removeQuietly(dataPath);
    await removeQuietly(sidecarPathOf(dataPath));
    return existed;
  }

  /** Sorted by hash. Blobs deleted during the walk are skipped, not reported. */
  async *list(): AsyncIterable<BlobInfo> {
    for (const aa of await sortedEntries(this.rootDir, fanOutPattern)) {
      for (const bb of await sortedEntries(join(this.rootDir, aa), fanOutPattern)) {
        const dir = join(this.rootDir, aa, bb);
        for (const name of await sortedEntries(dir, /^[0-9a-f]{64}$/)) {
          if (!name.startsWith(aa + bb)) continue; // misplaced by hand: not ours to report
          const info = await this.#readInfo(name);
          if (info !== undefined) yield info;
        }
      }
    }
  }

  /**
   * Removes the leftovers of processes that crashed mid-put: temp files whose writer is known
   * dead (same host, pid gone: see temp-file-owner.ts), whatever their age, and any older than
   * `olderThanMs` (default: the store's `tempMaxAgeMs`, one hour). Other younger ones may belong
   * to a put in progress in a live process. Returns how many were removed.
   */
  async sweepTemp(olderThanMs: number = this.#tempMaxAgeMs): Promise<number> {
    const cutoff = this.#now() - olderThanMs;
    let removed = 0;
    for (const name of await sortedEntries(this.#tempDir, /\.(data|meta)$/)) {
      const path = join(this.#tempDir, name);
      try {
        const orphan = isOrphanTemp(name);
        const old = orphan || (await stat(path)).mtimeMs < cutoff;
        if (old && (await removeQuietly(path))) removed += 1;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return removed;
  }

  /** Throws unless the store's directories exist and are writable (a read-only volume fails). */
  async ping(): Promise<void> {
    await this.#ensureDirs();
    await access(this.#tempDir, constants.R_OK | constants.W_OK);
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }

  async #ensureDirs(): Promise<void> {
    this.#ready ??= mkdir(this.#tempDir, { recursive: true }).then(
      () => undefined,
      (err: unknown) => {
        this.#ready = undefined; // let a later call retry (e.g. a volume mounted late)
        throw err;
      },
    );
    return this.#ready;
  }

  async #writeTemp(
    path: string,
    source: Readable | Uint8Array,
    maxBytes: number | undefined,
  ): Promise<{ sha256: string; size: number; sniffer: MediaTypeSniffer }> {
    const hash = createHash('sha256');
    const sniffer = new MediaTypeSniffer();
    let size = 0;
    const handle = await open(path, 'wx');
    try {
      for await (const chunk of chunksOf(source)) {
        if (chunk.length === 0) continue;
        size += chunk.length;
        // Checked before writing: a too-large upload is refused without storing past the limit.
        // Throwing inside `for await` destroys the source, so the client stops being read.
        if (maxBytes !== undefined && size > maxBytes) throw inputTooLarge(maxBytes);
        hash.update(chunk);
        sniffer.write(chunk);
        await handle.write(chunk);
      }
      if (size === 0) throw new InferqError('INFERQ_INPUT_EMPTY', 'The input has no bytes.');
      await handle.sync();
    } finally {
      await handle.close();
    }
    return { sha256: hash.digest('hex'), size, sniffer };
  }

  /**
   * If the content is already stored, refreshes its `createdAt` and returns its info. The data
   * is looked for again afterwards: a delete (GC) that ran in between means the caller must
   * store its copy after all.
   */
  async #refreshExisting(sha256: string, createdAt: number, putId: string): Promise<BlobInfo | undefined> {
    const info = await this.#readInfo(sha256);
    if (info === undefined) return undefined;
    const refreshed: BlobInfo = { ...info, createdAt: Math.max(info.createdAt, createdAt) };
    // Before the check below: a discardPut racing this put sees this putId (see discardPut).
    await this.#writeSidecar(sha256, refreshed, putId);
    return (await exists(this.#dataPath(sha256))) ? refreshed : undefined;
  }

  /**
   * The blob's info, or undefined when there is no data file. A data file whose sidecar is
   * missing or unreadable (a delete racing a put, a hand-made change) gets its metadata rebuilt
   * from the bytes, so a visible blob always has it.
   */
  async #readInfo(sha256: string): Promise<BlobInfo | undefined> {
    const dataPath = this.#dataPath(sha256);
    let size: number;
    let mtimeMs: number;
    try {
      ({ size, mtimeMs } = await stat(dataPath));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    try {
      const sidecar = parseSidecar(await readFile(sidecarPathOf(dataPath), 'utf8'));
      if (sidecar !== undefined && sidecar.size === size) {
        const { putId: _putId, ...info } = sidecar;
        return { sha256, ...info };
      }
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    return this.#rebuildSidecar(sha256, Math.floor(mtimeMs));
  }

  async #rebuildSidecar(sha256: string, createdAt: number): Promise<BlobInfo | undefined> {
    const sniffer = new MediaTypeSniffer();
    let size = 0;
    try {
      for await (const chunk of createReadStream(this.#dataPath(sha256))) {
        const bytes = chunk as Buffer;
        size += bytes.length;
        sniffer.write(bytes);
      }
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    const info: BlobInfo = { sha256, size, ...(await sniffer.finish()), createdAt };
    await this.#writeSidecar(sha256, info);
    return info;
  }

  async #writeSidecar(sha256: string, info: BlobInfo, putId?: string): Promise<void> {
    const sidecar: Sidecar = {
      size: info.size,
      mediaType: info.mediaType,
      ext: info.ext,
      createdAt: info.createdAt,
      ...(putId === undefined ? {} : { putId }),
    };
    await this.#ensureDirs();
    const temp = this.#tempPath('meta');
    try {
      await writeNewFile(temp, JSON.stringify(sidecar));
      await rename(temp, sidecarPathOf(this.#dataPath(sha256)));
    } catch (err) {
      await discard(temp);
      throw mapWriteError(err);
    }
  }

  #tempPath(kind: 'data' | 'meta'): string {
    return join(this.#tempDir, tempFileName(kind));
  }

  /** Only called with a checked hash: never a path from an unchecked string. */
  #dirOf(sha256: string): string {
    return join(this.rootDir, sha256.slice(0, 2), sha256.slice(2, 4));
  }

  #dataPath(sha256: string): string {
    return join(this.#dirOf(sha256), sha256);
  }
}

function sidecarPathOf(dataPath: string): string {
  return `${dataPath}.json`;
}

function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function isNotFound(err: unknown): boolean {
  return errnoCode(err) === 'ENOENT';
}

/** A full disk or quota becomes INFERQ_STORAGE_FULL; everything else passes through unchanged. */
function mapWriteError(err: unknown): unknown {
  if (isInferqError(err)) return err;
  const code = errnoCode(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new InferqError('INFERQ_STORAGE_FULL', 'The blob store has no space left; nothing was stored.', {
      cause: err,
    });
  }
  return err;
}

async function* chunksOf(source: Readable | Uint8Array): AsyncIterable<Uint8Array> {
  if (source instanceof Uint8Array) {
    for (let offset = 0; offset < source.length; offset += writeSliceBytes) {
      yield source.subarray(offset, offset + writeSliceBytes);
    }
    return;
  }
  for await (const chunk of source as AsyncIterable<unknown>) {
    if (chunk instanceof Uint8Array) yield chunk;
    else if (typeof chunk === 'string') yield Buffer.from(chunk, 'utf8');
    else throw new TypeError('A blob source stream must yield bytes or strings.');
  }
}

/** Writes and fsyncs a new file, so a rename of it publishes complete content. */
async function writeNewFile(path: string, content: string): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    await handle.writeFile(content, 'utf8');
  } finally {
    await handle.close();
  }
}

/**
 * Makes `temp`'s bytes visible at `dataPath` unless a file is there already: true if this call
 * published them. `link` fails with EEXIST instead of replacing, so of concurrent puts of new
 * content exactly one publishes. The temp name is left for the caller to remove. A file system
 * without hard links falls back to a rename, which cannot tell: false (not claimed as created).
 */
async function publish(temp: string, dataPath: string): Promise<boolean> {
  try {
    await link(temp, dataPath);
    await discard(temp);
    return true;
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'EEXIST') return false;
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EXDEV') {
      await rename(temp, dataPath);
      return false;
    }
    throw err;
  }
}

/** Unlinks; true if a file was removed, false if there was none. */
async function removeQuietly(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** Best-effort cleanup on an error path: the original error is the one worth reporting. */
async function discard(path: string): Promise<void> {
  await unlink(path).catch(() => undefined);
}

async function sortedEntries(dir: string, pattern: RegExp): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((name) => pattern.test(name)).sort();
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

function parseSidecar(text: string): Sidecar | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  const { size, mediaType, ext, createdAt, putId } = value as Record<string, unknown>;
  if (
    typeof size !== 'number' ||
    typeof mediaType !== 'string' ||
    typeof ext !== 'string' ||
    typeof createdAt !== 'number'
  ) {
    return undefined;
  }
  return { size, mediaType, ext, createdAt, ...(typeof putId === 'string' ? { putId } : {}) };
}
