import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/core/hash.js';
import { type AppFixture, bearer, createAppFixture, multipart } from './app-fixture.js';

let f: AppFixture | undefined;
afterEach(async () => {
  await f?.close();
  f = undefined;
});

async function bytesOnDisk(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(path.join(entry.parentPath, entry.name))).size;
  }
  return total;
}

const send = async (g: AppFixture, key: string, files: Buffer[]) => {
  const body = await multipart([
    ['target', 'echo'],
    ...files.map((b, i) => ['file', b, `f${i}`] as [string, Buffer, string]),
  ]);
  return g.app.inject({
    method: 'POST',
    url: '/v1/tasks',
    headers: { ...bearer(key), ...body.headers },
    payload: body.payload,
  });
};
const error = (res: { json(): unknown }) =>
  (res.json() as { error: { code: string; details: unknown } }).error;

describe('per-tenant storage quota (maxStoredBytes)', () => {
  it('api.maxStoredBytes: a submission that would pass it is a 413 and stores nothing', async () => {
    f = await createAppFixture({ config: { api: { maxStoredBytes: 1_000 } } });
    const a = Buffer.alloc(600, 'a');
    expect((await send(f, f.keys.user, [a])).statusCode).toBe(202);
    const before = await bytesOnDisk(f.blobs.rootDir);
    // 600 stored + 600 more > 1,000: refused, nothing of it kept.
    const b = Buffer.alloc(600, 'b');
    const refused = await send(f, f.keys.user, [b]);
    expect([refused.statusCode, error(refused).code]).toEqual([413, 'INFERQ_STORAGE_QUOTA_EXCEEDED']);
    expect(error(refused).details).toMatchObject({ limit: 1_000, used: 600 });
    expect(await f.blobs.stat(sha256Hex(b))).toBeUndefined();
    // Several small files that fit one by one but not together: the earlier ones are taken back.
    const parts = [Buffer.alloc(150, 'c'), Buffer.alloc(150, 'd'), Buffer.alloc(150, 'e')];
    const several = await send(f, f.keys.user, parts);
    expect([several.statusCode, error(several).code]).toEqual([413, 'INFERQ_STORAGE_QUOTA_EXCEEDED']);
    expect(await bytesOnDisk(f.blobs.rootDir)).toBe(before);
    // JSON inputs are held to it too, before anything is stored.
    const json = await f.app.inject({
      method: 'POST',
      url: '/v1/tasks',
      headers: bearer(f.keys.user),
      payload: { target: 'echo', text: 'x'.repeat(500) },
    });
    expect([json.statusCode, error(json).code]).toEqual([413, 'INFERQ_STORAGE_QUOTA_EXCEEDED']);
    expect(error(json).details).toEqual({ limit: 1_000, used: 600, adding: 500 });
    // What fits still goes in; another tenant has its own count.
    expect((await send(f, f.keys.user, [Buffer.alloc(300, 'f')])).statusCode).toBe(202);
    expect((await send(f, f.keys.other, [Buffer.alloc(900, 'g')])).statusCode).toBe(202);
    // At 900 of 1,000: a repeat of an input the tenant stores already adds nothing, and passes.
    const repeat = await send(f, f.keys.user, [a]);
    expect(repeat.statusCode).toBe(202);
    // Another tenant's stored input is new bytes for this one: counted.
    const theirs = await send(f, f.keys.user, [Buffer.alloc(900, 'g')]);
    expect([theirs.statusCode, error(theirs).code]).toEqual([413, 'INFERQ_STORAGE_QUOTA_EXCEEDED']);
    expect(await f.blobs.stat(sha256Hex(Buffer.alloc(900, 'g')))).toBeDefined();
    // Purging a task frees its bytes for the quota.
    const tasks = (await f.store.listTasks({ owner: 'acme' })).items;
    for (const task of tasks) {
      await f.app.inject({
        method: 'DELETE',
        url: `/v1/tasks/${task.id}?purge=true`,
        headers: bearer(f.keys.user),
      });
    }
    expect(await f.store.storedInputBytes('acme')).toBe(0);
    expect((await send(f, f.keys.user, [b])).statusCode).toBe(202);
  });

  it("a tenant's own maxStoredBytes overrides the server's (none here)", async () => {
    f = await createAppFixture();
    await f.auth.ensureTenant('globex');
    await f.auth.setTenantLimits('globex', { maxStoredBytes: 100 });
    const big = Buffer.alloc(200, 'z');
    const refused = await send(f, f.keys.other, [big]);
    expect([refused.statusCode, error(refused).code]).toEqual([413, 'INFERQ_STORAGE_QUOTA_EXCEEDED']);
    expect(error(refused).details).toMatchObject({ limit: 100, used: 0 });
    expect((await send(f, f.keys.user, [big])).statusCode).toBe(202);
  });
});
