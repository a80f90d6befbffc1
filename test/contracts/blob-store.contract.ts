/**
 * The BlobStore contract: what every adapter (fs, PostgreSQL, S3…) must do, checked through the
 * interface only. An adapter's test file calls {@link runBlobStoreContract} with a factory that
 * gives each test a fresh, empty store (its own directory, schema or bucket prefix).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import sharp from 'sharp';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BlobInfo, BlobStore, PutResult } from '../../src/blobs/blob-store.js';
import type { ErrorCode } from '../../src/errors/index.js';
import { isInferqError } from '../../src/errors/index.js';

export interface BlobStoreFixture {
  blobs: BlobStore;
  cleanup(): Promise<void>;
}

export interface BlobStoreContractOptions {
  /** Test title → why this adapter cannot run it. The reason is shown in the skipped title. */
  skip?: Record<string, string>;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** A stream of `chunks` (copied, so the store cannot rely on owning the caller's buffers). */
const streamOf = (...chunks: Uint8Array[]): Readable => Readable.from(chunks.map((c) => Buffer.from(c)));

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

async function listAll(blobs: BlobStore): Promise<BlobInfo[]> {
  const out: BlobInfo[] = [];
  for await (const info of blobs.list()) out.push(info);
  return out.sort((a, b) => a.sha256.localeCompare(b.sha256));
}

/** Compares by length and digest: deep-equality of large buffers is slow and its diff unreadable. */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect({ size: actual.length, sha256: sha256(actual) }).toEqual({
    size: expected.length,
    sha256: sha256(expected),
  });
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected a rejection with ${code}`).toBeDefined();
  expect(isInferqError(err) ? err.code : err).toBe(code);
}

/**
 * `size` bytes of pseudo-random content produced chunk by chunk as the store reads, so the test
 * itself never holds the blob; `digest()` gives the SHA-256 of what was produced.
 */
function lazyStream(size: number, chunkSize = 256 * 1024): { stream: Readable; digest(): string } {
  const hash = createHash('sha256');
  let produced = 0;
  const stream = new Readable({
    read() {
      if (produced >= size) {
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(chunkSize, size - produced));
      produced += chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}

/** A stream that yields `bytes` and then fails, as a client connection dropped mid-upload. */
function failingStream(bytes: Uint8Array, error: Error): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(Buffer.from(bytes));
      } else {
        this.destroy(error);
      }
    },
  });
}

interface Samples {
  png: Buffer;
  jpeg: Buffer;
  pdf: Buffer;
  text: Buffer;
  json: Buffer;
}

async function makeSamples(): Promise<Samples> {
  const image = sharp({ create: { width: 8, height: 6, channels: 3, background: { r: 200, g: 30, b: 60 } } });
  return {
    png: await image.clone().png().toBuffer(),
    jpeg: await image.clone().jpeg({ quality: 80 }).toBuffer(),
    pdf: Buffer.from(
      '%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<<>>\n%%EOF\n',
      'latin1',
    ),
    text: Buffer.from('Grüße aus inferq — plain text, not JSON.\n', 'utf8'),
    json: Buffer.from('{"inputs":[1,2,3],"name":"ok"}', 'utf8'),
  };
}

/** A put's answer as stat reports the blob (without what only the put knows). */
function blobOf(put: PutResult): BlobInfo {
  const { created: _created, putId: _putId, ...info } = put;
  return info;
}

export function runBlobStoreContract(
  name: string,
  factory: () => Promise<BlobStoreFixture>,
  options: BlobStoreContractOptions = {},
): void {
  const skip = options.skip ?? {};
  const titles = new Set<string>();
  const test = (title: string, fn: () => Promise<void>, timeout?: number): void => {
    titles.add(title);
    const reason = skip[title];
    if (reason !== undefined) it.skip(`${title} (skipped: ${reason})`, fn, timeout);
    else it(title, fn, timeout);
  };

  describe(`BlobStore contract: ${name}`, () => {
    let fixture: BlobStoreFixture;
    let blobs: BlobStore;
    let samples: Samples;

    beforeAll(async () => {
      samples = await makeSamples();
    });
    beforeEach(async () => {
      fixture = await factory();
      blobs = fixture.blobs;
    });
    afterEach(async () => {
      await blobs.close();
      await fixture.cleanup();
    });

    test('stores bytes under the SHA-256 that node:crypto computes', async () => {
      const bytes = Buffer.from('hello, blobs');
      const info = await blobs.put(bytes);
      expect(info.sha256).toBe(sha256(bytes));
      expect(info.size).toBe(bytes.length);
      expect(typeof info.createdAt).toBe('number');
      expect(await blobs.stat(info.sha256)).toEqual(blobOf(info));
    });

    test('stores a stream of several chunks under the SHA-256 of their concatenation', async () => {
      const parts = [Buffer.from('first part, '), Buffer.from('second part, '), Buffer.from('third.')];
      const info = await blobs.put(streamOf(...parts));
      const whole = Buffer.concat(parts);
      expect(info.sha256).toBe(sha256(whole));
      expect(info.size).toBe(whole.length);
      expectSameBytes(await blobs.readBytes(info.sha256), whole);
    });

    test('stores the same content once, however it arrives', async () => {
      const bytes = randomBytes(10_000);
      const first = await blobs.put(bytes);
      const second = await blobs.put(streamOf(bytes.subarray(0, 3000), bytes.subarray(3000)));
      expect(second.sha256).toBe(first.sha256);
      expect(second).toMatchObject({ size: first.size, mediaType: first.mediaType, ext: first.ext });
      expect(second.createdAt).toBeGreaterThanOrEqual(first.createdAt);
      expect((await listAll(blobs)).map((b) => b.sha256)).toEqual([first.sha256]);
    });

    test('stores the same content once under concurrent puts', async () => {
      const bytes = randomBytes(200_000);
      const infos = await Promise.all(
        Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? blobs.put(bytes) : blobs.put(streamOf(bytes)))),
      );
      expect(new Set(infos.map((i) => i.sha256))).toEqual(new Set([sha256(bytes)]));
      const listed = await listAll(blobs);
      expect(listed).toHaveLength(1);
      expect(listed[0]).toMatchObject({ sha256: sha256(bytes), size: bytes.length });
      expectSameBytes(await blobs.readBytes(sha256(bytes)), bytes);
    });

    test('tells the put that stored new content from a put of content already there', async () => {
      const bytes = randomBytes(5_000);
      const first = await blobs.put(bytes);
      const second = await blobs.put(streamOf(bytes));
      expect([first.created, second.created]).toEqual([true, false]);
      const small = await blobs.put(Buffer.from('tiny'));
      expect(small.created).toBe(true);
      expect((await blobs.put(Buffer.from('tiny'))).created).toBe(false);
    });

    test('of concurrent puts of the same new content, exactly one created it', async () => {
      for (const size of [40, 150_000]) {
        const bytes = randomBytes(size);
        const puts = await Promise.all(Array.from({ length: 6 }, () => blobs.put(bytes)));
        expect([size, puts.filter((p) => p.created).length]).toEqual([size, 1]);
      }
    });

    test('discardPut deletes what its put created, unless the content was put again since', async () => {
      for (const size of [30, 120_000]) {
        const alone = await blobs.put(randomBytes(size));
        expect(await blobs.discardPut(alone)).toBe(true);
        expect(await blobs.stat(alone.sha256)).toBeUndefined();
        expect(await blobs.discardPut(alone)).toBe(false);

        // Put again by another request (which may be about to reference it): kept, for both.
        const bytes = randomBytes(size);
        const first = await blobs.put(bytes);
        const again = await blobs.put(bytes);
        expect(await blobs.discardPut(first)).toBe(false);
        expect(await blobs.discardPut(again)).toBe(false);
        expectSameBytes(await blobs.readBytes(first.sha256), bytes);
      }
    });

    test('a put racing a discardPut of the same content always leaves its blob readable', async () => {
      for (const size of [50, 100_000]) {
        for (let round = 0; round < 10; round++) {
          const bytes = randomBytes(size);
          const refused = await blobs.put(bytes);
          const [, kept] = await Promise.all([blobs.discardPut(refused), blobs.put(streamOf(bytes))]);
          expectSameBytes(await blobs.readBytes(kept.sha256), bytes);
          expect(await blobs.stat(kept.sha256)).toMatchObject({ size });
        }
      }
    });

    test('round-trips through stat, read and readBytes', async () => {
      const bytes = randomBytes(300_000);
      const info = await blobs.put(bytes);
      expect(await blobs.stat(info.sha256)).toEqual(blobOf(info));
      expectSameBytes(await collect(await blobs.read(info.sha256)), bytes);
      expectSameBytes(await blobs.readBytes(info.sha256), bytes);
    });

    const mediaCases: Array<[keyof Samples, string, string]> = [
      ['png', 'image/png', 'png'],
      ['jpeg', 'image/jpeg', 'jpg'],
      ['pdf', 'application/pdf', 'pdf'],
      ['text', 'text/plain', 'txt'],
      ['json', 'application/json', 'json'],
    ];
    for (const [sample, mediaType, ext] of mediaCases) {
      test(`sniffs ${mediaType} from the bytes`, async () => {
        const info = await blobs.put(samples[sample]);
        expect(info).toMatchObject({ mediaType, ext });
        expect(await blobs.stat(info.sha256)).toMatchObject({ mediaType, ext });
      });
    }

    test('reports unknown binary bytes as application/octet-stream', async () => {
      const bytes = Buffer.from([0x00, 0x01, 0x02, 0xfe, 0xff, 0x00, 0x13, 0x37]);
      expect(await blobs.put(bytes)).toMatchObject({ mediaType: 'application/octet-stream', ext: 'bin' });
    });

    test('sniffs a PNG read from a file named like text as image/png', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'inferq-contract-'));
      try {
        const path = join(dir, 'not-an-image.txt');
        await writeFile(path, samples.png);
        const info = await blobs.put(createReadStream(path, { highWaterMark: 16 }));
        expect(info).toMatchObject({ sha256: sha256(samples.png), mediaType: 'image/png', ext: 'png' });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    test('refuses a stream bigger than maxBytes and keeps nothing of it', async () => {
      const kept = await blobs.put(Buffer.from('already here'));
      const { stream } = lazyStream(1024 * 1024, 16 * 1024);
      await expectCode(blobs.put(stream, { maxBytes: 100_000 }), 'INFERQ_INPUT_TOO_LARGE');
      expect(await listAll(blobs)).toEqual([blobOf(kept)]);
    });

    test('refuses bytes bigger than maxBytes and accepts exactly maxBytes', async () => {
      const bytes = randomBytes(1000);
      await expectCode(blobs.put(bytes, { maxBytes: 999 }), 'INFERQ_INPUT_TOO_LARGE');
      expect(await listAll(blobs)).toEqual([]);
      expect((await blobs.put(bytes, { maxBytes: 1000 })).size).toBe(1000);
    });

    test('refuses empty input', async () => {
      await expectCode(blobs.put(new Uint8Array(0)), 'INFERQ_INPUT_EMPTY');
      await expectCode(blobs.put(Readable.from([])), 'INFERQ_INPUT_EMPTY');
      expect(await listAll(blobs)).toEqual([]);
    });

    test('rejects a put whose source fails and keeps nothing of it', async () => {
      const boom = new Error('client went away');
      await expect(blobs.put(failingStream(randomBytes(50_000), boom))).rejects.toBeDefined();
      expect(await listAll(blobs)).toEqual([]);
    });

    test('answers a missing blob with undefined, INFERQ_BLOB_NOT_FOUND or false', async () => {
      const missing = sha256(Buffer.from('never stored'));
      expect(await blobs.stat(missing)).toBeUndefined();
      await expectCode(blobs.read(missing), 'INFERQ_BLOB_NOT_FOUND');
      await expectCode(blobs.readBytes(missing), 'INFERQ_BLOB_NOT_FOUND');
      expect(await blobs.delete(missing)).toBe(false);
    });

    const badHashes = [
      'abc',
      '',
      'A'.repeat(64),
      'g'.repeat(64),
      `${'0'.repeat(63)}/`,
      `../../${'0'.repeat(58)}`,
      `${'0'.repeat(64)}\n`,
    ];
    test('rejects a malformed hash with INFERQ_BLOB_HASH_INVALID before touching storage', async () => {
      for (const bad of badHashes) {
        await expectCode(blobs.stat(bad), 'INFERQ_BLOB_HASH_INVALID');
        await expectCode(blobs.read(bad), 'INFERQ_BLOB_HASH_INVALID');
        await expectCode(blobs.readBytes(bad), 'INFERQ_BLOB_HASH_INVALID');
        await expectCode(blobs.delete(bad), 'INFERQ_BLOB_HASH_INVALID');
      }
    });

    test('deletes a blob', async () => {
      const keep = await blobs.put(Buffer.from('keep me'));
      const gone = await blobs.put(Buffer.from('delete me'));
      expect(await blobs.delete(gone.sha256)).toBe(true);
      expect(await blobs.stat(gone.sha256)).toBeUndefined();
      await expectCode(blobs.readBytes(gone.sha256), 'INFERQ_BLOB_NOT_FOUND');
      expect(await blobs.delete(gone.sha256)).toBe(false);
      expect(await listAll(blobs)).toEqual([blobOf(keep)]);
      const again = await blobs.put(Buffer.from('delete me'));
      expectSameBytes(await blobs.readBytes(again.sha256), Buffer.from('delete me'));
    });

    test('lists every stored blob with the info stat gives', async () => {
      expect(await listAll(blobs)).toEqual([]);
      const stored = [
        await blobs.put(samples.png),
        await blobs.put(samples.text),
        await blobs.put(randomBytes(4096)),
      ];
      const listed = await listAll(blobs);
      expect(listed).toHaveLength(3);
      for (const info of stored) expect(listed).toContainEqual(await blobs.stat(info.sha256));
    });

    test('answers ping', async () => {
      await expect(blobs.ping()).resolves.toBeUndefined();
    });

    // Big enough that garbage chunks awaiting collection (a plateau of a few tens of MB, whatever
    // the size) stay well under half of it, while a store that buffers grows by all of it.
    const largeSize = 128 * 1024 * 1024;
    test('stores a large stream without holding it in memory', async () => {
      // Warm up: the first put in a fresh process loads code and grows the heap by itself.
      await blobs.put(lazyStream(4 * 1024 * 1024).stream);
      const { stream, digest } = lazyStream(largeSize);
      const before = process.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 5);
      let info: BlobInfo;
      try {
        info = await blobs.put(stream);
      } finally {
        clearInterval(sampler);
      }
      peak = Math.max(peak, process.memoryUsage().rss);
      expect(info.sha256).toBe(digest());
      expect(info.size).toBe(largeSize);
      // Generous: a store that buffers the blob grows by at least its size.
      expect(peak - before).toBeLessThan(largeSize / 2);
      const read = await blobs.read(info.sha256);
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of read) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
      expect({ size, sha256: hash.digest('hex') }).toEqual({ size: largeSize, sha256: info.sha256 });
    }, 120_000);
  });

  // A skip naming no test is a typo that would silently run the test: fail loudly instead.
  for (const title of Object.keys(skip)) {
    if (!titles.has(title))
      throw new Error(`runBlobStoreContract(${name}): no test titled "${title}" to skip`);
  }
}
