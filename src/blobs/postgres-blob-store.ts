import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type pg from 'pg';
import { InferqError } from '../errors/index.js';
import { migratePg } from '../postgres/migrate-pg.js';
import { openPgPool, type PgHandle } from '../postgres/open-pg-pool.js';
import { checkHash, inputTooLarge } from './blob-errors.js';
import type { BlobInfo, BlobStore, PutOptions, PutResult } from './blob-store.js';
import { MediaTypeSniffer } from './sniff-media-type.js';

/**
 * Bytes live in 1 MiB `bytea` chunks keyed by an upload id; `blobs` maps a hash to its upload.
 * bytea chunks rather than large objects: they are ordinary rows (dumped, replicated, deleted by
 * cascade like anything else) and a chunk is the natural unit of a streamed read.
 */
const migrations: readonly string[] = [
  `
  CREATE TABLE blobs (
    sha256     TEXT COLLATE "C" PRIMARY KEY,
    upload_id  UUID NOT NULL UNIQUE,
    size       BIGINT NOT NULL,
    media_type TEXT NOT NULL,
    ext        TEXT NOT NULL,
    created_at BIGINT NOT NULL
  );
  CREATE TABLE blob_chunks (
    upload_id UUID NOT NULL,
    seq       INTEGER NOT NULL,
    data      BYTEA NOT NULL,
    PRIMARY KEY (upload_id, seq)
  );
  -- bytea is already compressed media most of the time: skip TOAST compression, keep the CPU.
  ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
  `,
];

const chunkBytes = 1024 * 1024;

interface BlobRow {
  sha256: string;
  size: number;
  media_type: string;
  ext: string;
  created_at: number;
}

const toInfo = (row: BlobRow): BlobInfo => ({
  sha256: row.sha256,
  size: row.size,
  mediaType: row.media_type,
  ext: row.ext,
  createdAt: row.created_at,
});

/**
 * Content-addressed blobs in PostgreSQL, for deployments with no shared volume. A put streams
 * its chunks into one transaction (memory stays at one chunk) and commits only once the hash is
 * known and the `blobs` row is inserted: readers never see a partial blob, and a failed or
 * oversized upload rolls back to nothing. Two concurrent puts of the same content serialise on
 * the primary key; the second finds the first's row and rolls its own chunks back.
 */
export class PostgresBlobStore implements BlobStore {
  readonly kind = 'postgres';
  readonly #handle: PgHandle;
  #closed = false;

  private constructor(handle: PgHandle) {
    this.#handle = handle;
  }

  static async open(
    url: string,
    options: { schema?: string; maxConnections?: number } = {},
  ): Promise<PostgresBlobStore> {
    const handle = openPgPool(url, {
      purpose: 'blob store',
      max: options.maxConnections ?? 4,
      ...(options.schema === undefined ? {} : { schema: options.schema }),
    });
    try {
      await migratePg(handle, 'blobs', migrations);
    } catch (cause) {
      await handle.pool.end().catch(() => {});
      throw new InferqError('INFERQ_STORE_UNAVAILABLE', 'cannot open the PostgreSQL blob store', { cause });
    }
    return new PostgresBlobStore(handle);
  }

  async put(source: Readable | Uint8Array, options: PutOptions = {}): Promise<PutResult> {
    const maxBytes = options.maxBytes;
    if (maxBytes !== undefined && source instanceof Uint8Array && source.length > maxBytes)
      throw inputTooLarge(maxBytes);
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      const uploadId = randomUUID();
      const hash = createHash('sha256');
      const sniffer = new MediaTypeSniffer();
      let size = 0;
      let seq = 0;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const flush = async (): Promise<void> => {
        if (pendingBytes === 0) return;
        const data = Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        await client.query('INSERT INTO blob_chunks (upload_id, seq, data) VALUES ($1, $2, $3)', [
          uploadId,
          seq++,
          data,
        ]);
      };
      const chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array> =
        source instanceof Uint8Array ? [source] : source;
      for await (const raw of chunks) {
        const chunk = Buffer.from(raw as Uint8Array);
        size += chunk.length;
        if (maxBytes !== undefined && size > maxBytes) throw inputTooLarge(maxBytes);
        hash.update(chunk);
        sniffer.write(chunk);
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= chunkBytes) await flush();
      }
      if (size === 0) throw new InferqError('INFERQ_INPUT_EMPTY', 'The input has no bytes.');
      await flush();
      const sha256 = hash.digest('hex');
      const sniffed = await sniffer.finish();
      const now = Date.now();
      // One statement, under the row's lock: either this put inserts the row (it created the
      // blob), or the content was stored already and its age is refreshed, so that garbage
      // collection's grace period counts from this upload (a task about to reference it must not
      // lose it). The refresh moves created_at strictly forward, so that discardPut, which
      // deletes only a row still at the created_at its put gave it, knows a put came since.
      const upserted = await client.query<BlobRow & { upload_id: string; inserted: boolean }>(
        `INSERT INTO blobs (sha256, upload_id, size, media_type, ext, created_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (sha256) DO UPDATE SET created_at = GREATEST(blobs.created_at + 1, EXCLUDED.created_at)
         RETURNING *, (xmax = 0) AS inserted`,
        [sha256, uploadId, size, sniffed.mediaType, sniffed.ext, now],
      );
      const row = upserted.rows[0]!;
      // Stored already: drop our copy of the chunks, keep the refresh.
      if (!row.inserted) await client.query('DELETE FROM blob_chunks WHERE upload_id = $1', [uploadId]);
      await client.query('COMMIT');
      return { ...toInfo(row), created: row.inserted, putId: row.upload_id };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  async stat(sha256: string): Promise<BlobInfo | undefined> {
    checkHash(sha256);
    const { rows } = await this.#pool.query<BlobRow>(
      'SELECT sha256, size, media_type, ext, created_at FROM blobs WHERE sha256 = $1',
      [sha256],
    );
    return rows[0] === undefined ? undefined : toInfo(rows[0]);
  }

  async read(sha256: string): Promise<Readable> {
    checkHash(sha256);
    const uploadId = await this.#uploadId(sha256);
    const pool = this.#pool;
    // One chunk per query: memory stays at one chunk, and the stream's backpressure paces reads.
    async function* chunks(): AsyncGenerator<Buffer> {
      for (let seq = 0; ; seq++) {
        const { rows } = await pool.query<{ data: Buffer }>(
          'SELECT data FROM blob_chunks WHERE upload_id = $1 AND seq = $2',
          [uploadId, seq],
        );
        if (rows[0] === undefined) return;
        yield rows[0].data;
      }
    }
    return Readable.from(chunks(), { objectMode: false });
  }

  async readBytes(sha256: string): Promise<Buffer> {
    checkHash(sha256);
    const uploadId = await this.#uploadId(sha256);
    const { rows } = await this.#pool.query<{ data: Buffer }>(
      'SELECT data FROM blob_chunks WHERE upload_id = $1 ORDER BY seq',
      [uploadId],
    );
    return Buffer.concat(rows.map((row) => row.data));
  }

  /** Deletes the row only if it is still the one `put` inserted, at the created_at it gave it. */
  async discardPut(put: PutResult): Promise<boolean> {
    checkHash(put.sha256);
    if (!put.created) return false;
    const { rows } = await this.#pool.query<{ n: number }>(
      `WITH gone AS (
         DELETE FROM blobs WHERE sha256 = $1 AND upload_id = $2 AND created_at = $3 RETURNING upload_id
       ), chunks AS (DELETE FROM blob_chunks WHERE upload_id IN (SELECT upload_id FROM gone))
       SELECT COUNT(*) AS n FROM gone`,
      [put.sha256, put.putId, put.createdAt],
    );
    return (rows[0]?.n ?? 0) > 0;
  }

  async delete(sha256: string): Promise<boolean> {
    checkHash(sha256);
    const { rows } = await this.#pool.query<{ n: number }>(
      `WITH gone AS (DELETE FROM blobs WHERE sha256 = $1 RETURNING upload_id),
         chunks AS (DELETE FROM blob_chunks WHERE upload_id IN (SELECT upload_id FROM gone))
       SELECT COUNT(*) AS n FROM gone`,
      [sha256],
    );
    return (rows[0]?.n ?? 0) > 0;
  }

  /** By hash, a page at a time (keyset paging: no long-lived cursor or transaction). */
  async *list(): AsyncIterable<BlobInfo> {
    let after = '';
    for (;;) {
      const { rows } = await this.#pool.query<BlobRow>(
        'SELECT sha256, size, media_type, ext, created_at FROM blobs WHERE sha256 > $1 ORDER BY sha256 LIMIT 500',
        [after],
      );
      for (const row of rows) yield toInfo(row);
      if (rows.length < 500) return;
      after = rows.at(-1)!.sha256;
    }
  }

  async ping(): Promise<void> {
    try {
      await this.#pool.query('SELECT 1');
    } catch (cause) {
      if (cause instanceof InferqError) throw cause;
      throw new InferqError('INFERQ_STORE_UNAVAILABLE', 'the PostgreSQL blob store is unreachable', {
        cause,
      });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#handle.pool.end();
  }

  async #uploadId(sha256: string): Promise<string> {
    const { rows } = await this.#pool.query<{ upload_id: string }>(
      'SELECT upload_id FROM blobs WHERE sha256 = $1',
      [sha256],
    );
    if (rows[0] === undefined) {
      throw new InferqError('INFERQ_BLOB_NOT_FOUND', `No blob with SHA-256 ${sha256}.`, {
        details: { sha256 },
      });
    }
    return rows[0].upload_id;
  }

  get #pool(): pg.Pool {
    if (this.#closed)
      throw new InferqError('INFERQ_STORE_UNAVAILABLE', 'the PostgreSQL blob store is closed');
    return this.#handle.pool;
  }
}
