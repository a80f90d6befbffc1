import { writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileInput, InferqClient, InferqClientError, type Task } from '../../src/client/index.js';
import { type AppFixture, createAppFixture, finishTask } from '../api/app-fixture.js';

let f: AppFixture;
let url: string;
let client: InferqClient;

/** A real HTTP server (the API over SQLite and files), listening on a free port. */
beforeAll(async () => {
  f = await createAppFixture();
  await f.app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(f.app.server.address() as AddressInfo).port}`;
  client = new InferqClient({ url, apiKey: f.keys.user, retryDelayMs: 5 });
});
afterAll(async () => f.close());

const png = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==',
  'base64',
);

describe('inferq/client against a real server', () => {
  it('submits text, buffers and files to several targets; gets, lists and reads results', async () => {
    const file = path.join(f.dir, 'note.txt');
    await writeFile(file, 'from disk');
    const submitted = await client.submit(['echo'], ['hello', Buffer.from('bytes'), await fileInput(file)], {
      params: { delayMs: 1 },
      priority: 3,
    });
    expect(submitted.tasks.map((t) => t.inputName)).toEqual(['input-0.txt', 'input-1', 'note.txt']);
    const many = await client.submit(['echo', 'vision'], [{ data: png, name: 'dot.png' }]);
    expect(many.tasks.map((t) => t.target)).toEqual(['echo@1.0.0', 'vision@1']);
    // A Blob has a text() method: it must still go as bytes, not be mistaken for a text input.
    const blob = await client.submit('echo', [new Blob(['a blob'])]);
    expect(blob.tasks[0]!.inputName).toBe('input-0');

    const first = submitted.tasks[0]!;
    const task = await client.get(first.id);
    expect(task).toMatchObject({ id: first.id, state: 'queued', priority: 3, params: { delayMs: 1 } });

    await finishTask(f, first.id, { result: { ok: 1 } });
    expect(await client.result(first.id)).toEqual({ id: first.id, cached: false, result: { ok: 1 } });
    expect(await new Response(await client.input(first.id)).text()).toBe('hello');

    const seen: string[] = [];
    for await (const t of client.list({ limit: 2 })) seen.push(t.id);
    expect(seen).toHaveLength(6);
    expect(new Set(seen).size).toBe(6);
    const succeeded: Task[] = [];
    for await (const t of client.list({ state: 'succeeded' })) succeeded.push(t);
    expect(succeeded.map((t) => t.id)).toEqual([first.id]);
  });

  it('surfaces the API error code and message', async () => {
    const err = await client.get('nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InferqClientError);
    expect(err).toMatchObject({ code: 'INFERQ_TASK_NOT_FOUND', status: 404, message: 'no task nope' });
    const { tasks } = await client.submit('echo', 'not yet');
    await expect(client.result(tasks[0]!.id)).rejects.toMatchObject({ code: 'INFERQ_RESULT_NOT_READY' });
    await expect(client.result(tasks[0]!.id, { waitMs: 10 })).rejects.toMatchObject({
      code: 'INFERQ_RESULT_NOT_READY',
    });
    await expect(client.submit('no-such-model', 'x')).rejects.toMatchObject({
      code: 'INFERQ_MODEL_NOT_FOUND',
    });
    const anonymous = new InferqClient({ url });
    await expect(anonymous.models()).rejects.toMatchObject({ code: 'INFERQ_AUTH_REQUIRED', status: 401 });
    const down = new InferqClient({ url: 'http://127.0.0.1:9', maxAttempts: 2, retryDelayMs: 1 });
    await expect(down.models()).rejects.toMatchObject({ code: 'INFERQ_CLIENT_NETWORK', status: 0 });
  });

  it("reads and rotates the tenant's webhook secret", async () => {
    const secret = await client.webhookSecret();
    expect(secret).toMatchObject({ tenant: 'acme', header: 'inferq-signature' });
    expect(secret.secret).toBe((await f.auth.getTenant('acme'))!.webhookSecret);
    // Rotating is admin only (issue 17).
    await expect(client.rotateWebhookSecret()).rejects.toMatchObject({ code: 'INFERQ_FORBIDDEN' });
    const admin = new InferqClient({ url, apiKey: f.keys.admin });
    const rotated = await admin.rotateWebhookSecret();
    expect(rotated.secret).not.toBe(secret.secret);
    expect((await client.webhookSecret()).secret).toBe(rotated.secret);
    const globex = await admin.rotateWebhookSecret({ tenant: 'globex' });
    expect(globex.tenant).toBe('globex');
    expect(globex.secret).toBe((await f.auth.getTenant('globex'))!.webhookSecret);
  });

  it('waits over SSE, and by polling when the stream is unavailable', async () => {
    const { tasks } = await client.submit('echo', ['a', 'b']);
    const [a, b] = tasks.map((t) => t.id) as [string, string];
    const states: string[] = [];
    const waited = client.wait(a, { onUpdate: (t) => states.push(t.state) });
    setTimeout(() => void finishTask(f, a, { result: { done: 'a' } }), 50);
    const done = await waited;
    expect(done).toMatchObject({ id: a, state: 'succeeded', result: { done: 'a' } });
    expect(states.at(-1)).toBe('succeeded');

    let streamCalls = 0;
    const polled: string[] = [];
    const noStream = new InferqClient({
      url,
      apiKey: f.keys.user,
      fetch: async (input, init) => {
        if (String(input).endsWith('/events')) {
          streamCalls++;
          throw new TypeError('stream blocked by a proxy');
        }
        polled.push(String(input));
        return fetch(input, init);
      },
      maxAttempts: 1,
    });
    setTimeout(() => void finishTask(f, b, { error: { code: 'INFERQ_WORK_FAILED', message: 'boom' } }), 50);
    const failed = await noStream.wait(b, { pollIntervalMs: 20 });
    expect(streamCalls).toBe(1);
    // The polls wait on the server (long polling) rather than only sleeping between reads.
    expect(polled.some((u) => u.endsWith(`/v1/tasks/${b}?wait=20`))).toBe(true);
    expect(failed).toMatchObject({ state: 'failed', error: { code: 'INFERQ_WORK_FAILED' } });
    await expect(client.wait('missing')).rejects.toMatchObject({ code: 'INFERQ_TASK_NOT_FOUND' });
    const { tasks: slow } = await client.submit('echo', 'slow');
    await expect(client.wait(slow[0]!.id, { timeoutMs: 50 })).rejects.toMatchObject({
      code: 'INFERQ_CLIENT_TIMEOUT',
    });
  });

  it('retries a lost answer with the same Idempotency-Key: the tasks are created once', async () => {
    const keys: string[] = [];
    let dropped = false;
    const flaky = new InferqClient({
      url,
      apiKey: f.keys.user,
      retryDelayMs: 1,
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        if (init?.method === 'POST') keys.push(new Headers(init.headers).get('idempotency-key')!);
        if (init?.method === 'POST' && !dropped) {
          dropped = true;
          throw new TypeError('connection reset after the server answered');
        }
        return response;
      },
    });
    const result = await flaky.submit('echo', ['once'], { params: { delayMs: 7 } });
    expect(keys).toHaveLength(2);
    expect(keys[0]).toBe(keys[1]);
    expect(result.replayed).toBe(true);
    const created: Task[] = [];
    for await (const t of client.list({ requestId: result.requestId })) created.push(t);
    expect(created).toHaveLength(1);
  });

  it('cancels, purges, stores feedback, lists models and stats; predicts (timing out without a worker)', async () => {
    const { tasks } = await client.submit('echo', ['x', 'y']);
    expect(await client.cancel(tasks[0]!.id)).toEqual({
      id: tasks[0]!.id,
      state: 'cancelled',
      purged: false,
    });
    expect(await client.cancel(tasks[1]!.id, { purge: true })).toMatchObject({ purged: true });
    await expect(client.get(tasks[1]!.id)).rejects.toMatchObject({ code: 'INFERQ_TASK_NOT_FOUND' });
    const feedback = await client.feedback(tasks[0]!.id, { label: 'cat' });
    expect(feedback.feedback[0]!.feedback).toEqual({ label: 'cat' });

    const models = await client.models();
    expect(models.items.map((m) => m.ref)).toEqual(['echo@1.0.0', 'vision@1', 'words@1']);
    expect(models.items[0]!.batching?.maxBatchSize).toBe(1);
    const stats = await client.stats({ windowSeconds: 60 });
    expect(stats.scope).toBe('acme');
    expect(stats.byTarget.find((t) => t.target === 'echo@1.0.0')?.counts.cancelled).toBeGreaterThan(0);

    const admin = new InferqClient({ url, apiKey: f.keys.admin });
    expect(await admin.workers()).toEqual({ items: [], staleAfterMs: 15_000, registry: false });
    await expect(client.workers()).rejects.toMatchObject({ code: 'INFERQ_FORBIDDEN' });
    await expect(client.predict('words', 'hi', { timeoutMs: 20 })).rejects.toMatchObject({
      code: 'INFERQ_PREDICT_TIMEOUT',
      status: 504,
    });

    const tokenClient = new InferqClient({ url });
    const token = await tokenClient.token(f.keys.user, { use: true });
    expect(token).toMatchObject({ tenant: 'acme', admin: false, tokenType: 'Bearer' });
    expect((await tokenClient.models()).items).toHaveLength(3);
  });
});
