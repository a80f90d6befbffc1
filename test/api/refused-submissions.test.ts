import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/core/hash.js';
import { type AppFixture, bearer, createAppFixture, multipart } from './app-fixture.js';

let f: AppFixture;
beforeAll(async () => {
  f = await createAppFixture();
});
afterAll(async () => f.close());

/** Every byte under the blob store's root (blobs, sidecars and temp files). */
async function bytesOnDisk(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(path.join(entry.parentPath, entry.name))).size;
  }
  return total;
}

const upload = async (parts: Parameters<typeof multipart>[0]) => {
  const body = await multipart(parts);
  return f.app.inject({
    method: 'POST',
    url: '/v1/tasks',
    headers: { ...bearer(f.keys.user), ...body.headers },
    payload: body.payload,
  });
};
const code = (res: { json(): unknown }) => (res.json() as { error: { code: string } }).error.code;

describe('a refused submission takes back what it stored', () => {
  it('1,001 files: 413, and 0 bytes left on disk', async () => {
    const root = f.blobs.rootDir;
    const before = await bytesOnDisk(root);
    const files = Array.from(
      { length: 1_001 },
      (_, i) => ['file', Buffer.from(`input number ${i}`), `f${i}.txt`] as [string, Uint8Array, string],
    );
    const res = await upload([['target', 'echo'], ...files]);
    expect([res.statusCode, code(res)]).toEqual([413, 'INFERQ_TOO_MANY_INPUTS']);
    const left = (await bytesOnDisk(root)) - before;
    expect({ bytesLeftOnDisk: left }).toEqual({ bytesLeftOnDisk: 0 });
    expect((await f.store.listTasks({ owner: 'acme' })).items).toHaveLength(0);
  }, 120_000); // 1,000 fsynced puts: about 10 s on the shared 2-core VM

  it('a 415 or 422 input: its blob is deleted at once, not at garbage collection', async () => {
    const text = Buffer.from('plain text, not an image');
    const broken = Buffer.concat([
      (
        await sharp({ create: { width: 4, height: 4, channels: 3, background: '#f00' } })
          .png()
          .toBuffer()
      ).subarray(0, 16),
      Buffer.alloc(64, 7),
    ]);
    for (const [bytes, status, expected] of [
      [text, 415, 'INFERQ_MEDIA_TYPE_UNSUPPORTED'],
      [broken, 422, 'INFERQ_INPUT_UNDECODABLE'],
    ] as const) {
      const res = await upload([
        ['target', 'vision'],
        ['file', bytes, 'x.png'],
      ]);
      expect([res.statusCode, code(res)]).toEqual([status, expected]);
      expect(await f.blobs.stat(sha256Hex(bytes))).toBeUndefined();
    }
    // JSON inputs too.
    const json = await f.app.inject({
      method: 'POST',
      url: '/v1/tasks',
      headers: bearer(f.keys.user),
      payload: { target: 'vision', data: broken.toString('base64') },
    });
    expect(json.statusCode).toBe(422);
    expect(await f.blobs.stat(sha256Hex(broken))).toBeUndefined();
  });

  it('never deletes a blob another task references, or one another request stored meanwhile', async () => {
    // Referenced by an existing task: a refused request with the same bytes leaves it.
    const shared = Buffer.from('shared by two requests');
    expect(
      (
        await upload([
          ['target', 'echo'],
          ['file', shared, 'a.txt'],
        ])
      ).statusCode,
    ).toBe(202);
    const refused = await upload([
      ['target', 'vision'],
      ['file', shared, 'a.txt'],
    ]);
    expect(refused.statusCode).toBe(415);
    expect(await f.blobs.stat(sha256Hex(shared))).toBeDefined();

    // Stored by a concurrent request that succeeds: whichever order the puts and the refusal's
    // clean-up run in, the accepted task's input stays readable.
    for (let round = 0; round < 20; round++) {
      const bytes = Buffer.from(`raced content ${round}`);
      const [no, yes] = await Promise.all([
        upload([
          ['target', 'vision'],
          ['file', bytes, 'r.txt'],
        ]),
        upload([
          ['target', 'echo'],
          ['file', bytes, 'r.txt'],
        ]),
      ]);
      expect([no.statusCode, yes.statusCode]).toEqual([415, 202]);
      expect((await f.blobs.readBytes(sha256Hex(bytes))).toString()).toBe(bytes.toString());
    }
  });
});
