import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../fixtures/eventually.js';
import { type AppFixture, bearer, createAppFixture } from './app-fixture.js';

const MiB = 1024 * 1024;

/** A JSON submission of `words` whose body is `size` bytes (one text input). */
function body(size: number): Buffer {
  const head = '{"target":"words","text":"';
  const tail = '"}';
  return Buffer.from(`${head}${'a'.repeat(size - head.length - tail.length)}${tail}`);
}

interface Answer {
  status: number;
  json: { error?: { code: string; message: string; details?: Record<string, unknown> } };
  headers: http.IncomingHttpHeaders;
}

let f: AppFixture;
let port: number;

/**
 * Starts a POST /v1/tasks with `bytes`, writing only `sendFirst` bytes until `finish()` is
 * called; chunked (no Content-Length) when `chunked`. Resolves `answer` with the response.
 */
function upload(key: string, bytes: Buffer, options: { sendFirst?: number; chunked?: boolean } = {}) {
  const request = http.request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/v1/tasks',
    headers: {
      ...bearer(key),
      'content-type': 'application/json',
      ...(options.chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(bytes.length) }),
    },
  });
  const answer = new Promise<Answer>((resolve, reject) => {
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (c) => chunks.push(c));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          json: JSON.parse(Buffer.concat(chunks).toString() || '{}'),
          headers: response.headers,
        }),
      );
    });
    // A refused upload may be cut off while it still writes; the answer came first.
    request.on('error', (err) => reject(err));
  });
  const first = options.sendFirst ?? bytes.length;
  request.write(bytes.subarray(0, first));
  const finish = () => {
    request.end(bytes.subarray(first));
  };
  if (first === bytes.length) request.end();
  return { answer, finish, request };
}

/** Waits until the server holds at least `bytes` of JSON bodies (its /metrics gauge). */
async function settle(bytes = 3 * MiB - 1024): Promise<void> {
  // (Within the test's own 30 s.)
  await eventually(
    async () => {
      const metrics = await f.app.inject({ url: '/metrics', headers: bearer(f.keys.admin) });
      const held = Number(/^inferq_buffered_body_bytes (\d+)$/m.exec(metrics.body)?.[1] ?? -1);
      expect(held, metrics.body.slice(0, 300)).toBeGreaterThanOrEqual(0);
      expect(held, 'bytes held').toBeGreaterThanOrEqual(bytes);
    },
    { timeoutMs: 25_000, intervalMs: 20 },
  );
}

beforeAll(async () => {
  f = await createAppFixture({
    config: {
      server: { bodyLimitBytes: 3 * MiB, maxBufferedBytes: 5 * MiB, maxBufferedBytesPerTenant: 4 * MiB },
    },
  });
  await f.app.listen({ host: '127.0.0.1', port: 0 });
  port = (f.app.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await f?.close();
});

describe('JSON bodies are capped per request, per tenant and per server', () => {
  it('caps one JSON body well below the multipart limit and says to send multipart', async () => {
    const defaults = await createAppFixture();
    try {
      const res = await defaults.app.inject({
        method: 'POST',
        url: '/v1/tasks',
        headers: { ...bearer(defaults.keys.user), 'content-type': 'application/json' },
        payload: body(5 * MiB),
      });
      expect(res.statusCode).toBe(413);
      expect(res.json().error.code).toBe('INFERQ_INPUT_TOO_LARGE');
      expect(res.json().error.message).toContain('4194304 bytes (server.bodyLimitBytes)');
      expect(res.json().error.message).toContain('multipart/form-data');
    } finally {
      await defaults.close();
    }
  });

  it("refuses a tenant's body that would take its held bytes past the limit, while it streams", async () => {
    const held = upload(f.keys.user, body(3 * MiB), { sendFirst: 3 * MiB - 1024 });
    await settle();
    // Declared: refused before its bytes are read.
    const second = await upload(f.keys.user, body(2 * MiB)).answer;
    expect(second.status).toBe(413);
    expect(second.json.error?.code).toBe('INFERQ_BUFFERED_BYTES_LIMIT');
    expect(second.json.error?.details).toMatchObject({ scope: 'tenant', limit: 4 * MiB });
    expect(second.json.error?.message).toContain('server.maxBufferedBytesPerTenant');
    expect(second.json.error?.message).toContain('multipart/form-data');
    expect(second.headers['retry-after']).toBe('1');
    // Chunked, with no length to judge by: refused once what arrived passes the limit.
    const chunked = await upload(f.keys.user, body(2 * MiB), { chunked: true }).answer;
    expect([chunked.status, chunked.json.error?.code]).toEqual([413, 'INFERQ_BUFFERED_BYTES_LIMIT']);
    // Another tenant still has room under the server's limit.
    const other = await upload(f.keys.other, body(1 * MiB)).answer;
    expect(other.status, JSON.stringify(other.json)).toBe(202);
    held.finish();
    expect((await held.answer).status).toBe(202);
    // Given back once answered: the same tenant may send as much again.
    expect((await upload(f.keys.user, body(3 * MiB)).answer).status).toBe(202);
  });

  it('refuses any tenant once the server holds its limit', async () => {
    const held = upload(f.keys.user, body(3 * MiB), { sendFirst: 3 * MiB - 1024 });
    await settle();
    const other = await upload(f.keys.other, body(3 * MiB)).answer;
    expect(other.status).toBe(413);
    expect(other.json.error?.details).toMatchObject({ scope: 'server', limit: 5 * MiB });
    expect(other.json.error?.message).toContain('server.maxBufferedBytes');
    held.finish();
    expect((await held.answer).status).toBe(202);
    expect((await upload(f.keys.other, body(3 * MiB)).answer).status).toBe(202);
  });

  it('takes at most 64 KiB from a route that needs no key (the token exchange)', async () => {
    const res = await f.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ apiKey: f.keys.user, pad: 'x'.repeat(100 * 1024) }),
    });
    expect(res.statusCode, res.body).toBe(413);
    expect(res.json().error.code).toBe('INFERQ_INPUT_TOO_LARGE');
    expect(res.json().error.message).toContain('65536 bytes');
    const ok = await f.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      payload: { apiKey: f.keys.user },
    });
    expect(ok.statusCode, ok.body).toBe(200);
  });

  it('does not count multipart bodies, which stream to storage', async () => {
    const held = upload(f.keys.user, body(3 * MiB), { sendFirst: 3 * MiB - 1024 });
    await settle();
    const form = new FormData();
    form.append('target', 'words');
    form.append('file', new Blob([Buffer.alloc(2 * MiB, 'a')]), 'big.txt');
    const res = await fetch(`http://127.0.0.1:${port}/v1/tasks`, {
      method: 'POST',
      headers: bearer(f.keys.user),
      body: form,
    });
    expect(res.status, await res.text()).toBe(202);
    held.finish();
    expect((await held.answer).status).toBe(202);
  });

  it('counts what arrived, not what a stalled client declared', async () => {
    // 3 MiB declared, 1 KiB sent: reserving the declared length would let a client that stalls
    // (Fastify sets no request timeout) hold the budget with nothing in memory.
    const stalled = upload(f.keys.user, body(3 * MiB), { sendFirst: 1024 });
    await settle(1024);
    expect((await upload(f.keys.user, body(3 * MiB)).answer).status).toBe(202);
    stalled.finish();
    expect((await stalled.answer).status).toBe(202);
  });

  it('gives the bytes of an upload cut off midway back', async () => {
    const cut = upload(f.keys.user, body(3 * MiB), { sendFirst: 3 * MiB - 1024 });
    cut.answer.catch(() => {});
    await settle();
    cut.request.destroy();
    await eventually(
      async () => {
        const metrics = await f.app.inject({ url: '/metrics', headers: bearer(f.keys.admin) });
        expect(/^inferq_buffered_body_bytes (\d+)$/m.exec(metrics.body)?.[1]).toBe('0');
      },
      { timeoutMs: 10_000 },
    );
    expect((await upload(f.keys.user, body(3 * MiB)).answer).status).toBe(202);
  });
});
