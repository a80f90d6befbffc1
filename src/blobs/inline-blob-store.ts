import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type Database from 'better-sqlite3';
import { InferqError } from '../errors/index.js';
import { cachedStatement } from '../sqlite/cached-statement.js';
import { openSqlite, type SqliteDatabase } from '../sqlite/open-sqlite.js';
import { checkHash, inputTooLarge } from './blob-errors.js';
import type { BlobInfo, BlobStore, PutOptions, PutResult } from './blob-store.js';
import { sniffMediaType } from './sniff-media-type.js';

export interface InlineBlobStoreOptions {
  /** Contents up to this many bytes live in SQLite; larger ones go to `large`. */
  inlineMaxBytes: number;
  /** Clock for `createdAt` (tests pass a fake). */
  now?: () => number;
}

const migrations = [
  `CREATE TABLE inline_blobs (
     sha256 TEXT PRIMARY KEY,
     size INTEGER NOT NULL,
     media_type TEXT NOT NULL,
     ext TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     bytes BLOB NOT NULL
   ) WITHOUT ROWID`,
];

/** sha256, size, media_type, ext, created_at, bytes. */
type InlineRow = [string, number, string, string, number, Buffer];

interface PendingPut {
  row: InlineRow;
  resolve(info: PutResult): void;
  reject(err: unknown): void;
}

interface InfoRow {
  sha256: string;
  size: number;
  media_type: string;
  ext: string;
  created_at: number;
}

/** Rows read per `list()` page: the walk never holds the whole table. */
const listPage = 500;

/**
 * Small contents in a SQLite table, larger ones in another blob store (the file store). Most
 * inputs of an inference service are a few KB — a line of text, a thumbnail, a crop — and a
 * file store spends several file-system round trips on each (temp file, fsync, renames); a row
 * in a WAL database costs one append with the same durability as the task that references it
 * (`synchronous = NORMAL`: survives a process crash).
 *
 * Which side holds a content follows from its size alone, so a content is stored once. A put
 * buffers at most `inlineMaxBytes + 1` bytes: once a stream grows past that, what was buffered
 * and the rest of the stream go to the large store, which streams it as before.
 *
 * Lookups try the table first, then the large store; `delete` removes from both (the threshold
 * may have changed between runs); `list` merges both in hash order.
 */
export class InlineBlobStore implements BlobStore {
  readonly kind: string;
  readonly #db: SqliteDatabase;
  readonly #large: BlobStore;
  readonly #inlineMaxBytes: number;
  readonly #now: () => number;
  #pending: PendingPut[] = [];
  #closed = false;

  private constructor(db: SqliteDatabase, large: BlobStore, options: InlineBlobStoreOptions) {
    this.#db = db;
    this.#large = large;
    this.#inlineMaxBytes = options.inlineMaxBytes;
    this.#now = options.now ?? Date.now;
    this.kind = `inline+${large.kind}`;
  }

  /** Opens the table in `file` (a SQLite database, possibly shared with other components). */
  static open(file: string, large: BlobStore, options: InlineBlobStoreOptions): InlineBlobStore {
    const db = openSqlite(file, { purpose: 'blob store', component: 'inline-blobs', migrations });
    return new InlineBlobStore(db, large, options);
  }

  async put(source: Readable | Uint8Array, options: PutOptions = {}): Promise<PutResult> {
    const { maxBytes } = options;
    if (source instanceof Uint8Array) {
      if (maxBytes !== undefined && source.length > maxBytes) throw inputTooLarge(maxBytes);
      if (source.length > this.#inlineMaxBytes) return this.#large.put(source, options);
      return this.#putInline(Buffer.from(source.buffer, source.byteOffset, source.length));
    }
    const head: Buffer[] = [];
    let size = 0;
    const iterator = (source as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      const chunk = toBuffer(next.value);
      head.push(chunk);
      size += chunk.length;
      if (maxBytes !== undefined && size > maxBytes) {
        await iterator.return?.();
        throw inputTooLarge(maxBytes);
      }
      if (size > this.#inlineMaxBytes) {
        // Too big for a row: the large store takes what was read and the rest of the stream.
        return this.#large.put(Readable.from(concat(head, iterator)), options);
      }
    }
    return this.#putInline(Buffer.concat(head, size));
  }

  async stat(sha256: string): Promise<BlobInfo | undefined> {
    checkHash(sha256);
    const row = this.#sql(
      'SELECT sha256, size, media_type, ext, created_at FROM inline_blobs WHERE sha256 = ?',
    ).get(sha256) as InfoRow | undefined;
    return row === undefined ? this.#large.stat(sha256) : toInfo(row);
  }

  async read(sha256: string): Promise<Readable> {
    checkHash(sha256);
    const bytes = this.#inlineBytes(sha256);
    return bytes === undefined ? this.#large.read(sha256) : Readable.from([bytes]);
  }

  async readBytes(sha256: string): Promise<Buffer> {
    checkHash(sha256);
    return this.#inlineBytes(sha256) ?? this.#large.readBytes(sha256);
  }

  /**
   * A content put inline is deleted only if its row is still at the created_at that put gave
   * it: every later put of it moves created_at strictly forward (see #flush). A larger one is
   * the large store's to discard.
   */
  async discardPut(put: PutResult): Promise<boolean> {
    checkHash(put.sha256);
    if (put.size > this.#inlineMaxBytes) return this.#large.discardPut(put);
    if (!put.created) return false;
    return (
      this.#sql('DELETE FROM inline_blobs WHERE sha256 = ? AND created_at = ?').run(put.sha256, put.createdAt)
        .changes > 0
    );
  }

  async delete(sha256: string): Promise<boolean> {
    checkHash(sha256);
    const inline = this.#sql('DELETE FROM inline_blobs WHERE sha256 = ?').run(sha256).changes > 0;
    const large = await this.#large.delete(sha256);
    return inline || large;
  }

  /** Both sides, merged in hash order (each side lists in hash order). */
  async *list(): AsyncIterable<BlobInfo> {
    const large = this.#large.list()[Symbol.asyncIterator]();
    let nextLarge = await large.next();
    for await (const info of this.#listInline()) {
      while (!nextLarge.done && nextLarge.value.sha256 < info.sha256) {
        yield nextLarge.value;
        nextLarge = await large.next();
      }
      if (!nextLarge.done && nextLarge.value.sha256 === info.sha256) nextLarge = await large.next();
      yield info;
    }
    while (!nextLarge.done) {
      yield nextLarge.value;
      nextLarge = await large.next();
    }
  }

  async ping(): Promise<void> {
    this.#sql('SELECT 1').get();
    await this.#large.ping();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
    await this.#large.close();
  }

  async #putInline(bytes: Buffer): Promise<PutResult> {
    if (bytes.length === 0) throw new InferqError('INFERQ_INPUT_EMPTY', 'The input has no bytes.');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const { mediaType, ext } = await sniffMediaType(bytes);
    return new Promise((resolve, reject) => {
      if (this.#pending.length === 0) setImmediate(() => this.#flush());
      this.#pending.push({
        row: [sha256, bytes.length, mediaType, ext, this.#now(), bytes],
        resolve,
        reject,
      });
    });
  }

  /**
   * Group commit: the puts of one event-loop turn share one transaction (one WAL append instead
   * of one per input). If it fails, each put is tried alone, so only a put at fault fails.
   */
  #flush(): void {
    const group = this.#pending;
    this.#pending = [];
    // Stored again: `createdAt` moves forward, so the garbage collector's grace period starts
    // over for the task about to reference it (see FsBlobStore); strictly forward, so that
    // discardPut knows a put came since.
    const upsert = (row: InlineRow): PutResult => {
      const inserted = this.#sql(
        `INSERT INTO inline_blobs (sha256, size, media_type, ext, created_at, bytes)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING`,
      ).run(...row);
      // A row just inserted holds what was given (the columns' affinities keep each value as
      // it is), so only a row that was there already is read back.
      const info: InfoRow =
        inserted.changes > 0
          ? { sha256: row[0], size: row[1], media_type: row[2], ext: row[3], created_at: row[4] }
          : (this.#sql(
              `UPDATE inline_blobs SET created_at = MAX(created_at + 1, ?) WHERE sha256 = ?
               RETURNING sha256, size, media_type, ext, created_at`,
            ).get(row[4], row[0]) as InfoRow);
      return { ...toInfo(info), created: inserted.changes > 0, putId: randomUUID() };
    };
    let infos: PutResult[] | undefined;
    try {
      infos = this.#db.transaction(() => group.map((put) => upsert(put.row))).immediate();
    } catch {
      // Tried one by one below.
    }
    for (const [index, put] of group.entries()) {
      if (infos !== undefined) put.resolve(infos[index]!);
      else {
        try {
          // Its two statements in one transaction: a discardPut cannot come between them.
          put.resolve(this.#db.transaction(upsert).immediate(put.row));
        } catch (err) {
          put.reject(err);
        }
      }
    }
  }

  #inlineBytes(sha256: string): Buffer | undefined {
    const row = this.#sql('SELECT bytes FROM inline_blobs WHERE sha256 = ?').get(sha256) as
      | { bytes: Buffer }
      | undefined;
    return row?.bytes;
  }

  async *#listInline(): AsyncIterable<BlobInfo> {
    let after = '';
    for (;;) {
      const rows = this.#sql(
        `SELECT sha256, size, media_type, ext, created_at FROM inline_blobs
         WHERE sha256 > ? ORDER BY sha256 LIMIT ${listPage}`,
      ).all(after) as InfoRow[];
      for (const row of rows) yield toInfo(row);
      if (rows.length < listPage) return;
      after = rows.at(-1)!.sha256;
    }
  }

  #sql(sql: string): Database.Statement {
    if (this.#closed) throw new InferqError('INFERQ_STORE_UNAVAILABLE', 'the blob store is closed');
    return cachedStatement(this.#db, sql);
  }
}

function toInfo(row: InfoRow): BlobInfo {
  return {
    sha256: row.sha256,
    size: row.size,
    mediaType: row.media_type,
    ext: row.ext,
    createdAt: row.created_at,
  };
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  throw new TypeError('A blob source stream must yield bytes or strings.');
}

async function* concat(head: readonly Buffer[], rest: AsyncIterator<unknown>): AsyncIterable<Buffer> {
  yield* head;
  for (;;) {
    const next = await rest.next();
    if (next.done) return;
    yield toBuffer(next.value);
  }
}
