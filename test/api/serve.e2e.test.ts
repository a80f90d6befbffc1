import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type InferqProcess, runInferq, startInferq } from '../fixtures/cli-process.js';
import { renderText } from '../fixtures/render-text.js';

let serve: InferqProcess;
let dir: string;
let base: string;
let adminKey: string;
let output = '';

/** Starts `inferq serve` (from source) on a free port, as a README reader would run it. */
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'inferq-e2e-'));
  serve = await startInferq(
    ['serve', '--port', '0', '--data-dir', dir, '--log-level', 'warn'],
    /Press Ctrl\+C/,
    60_000,
  );
  output = serve.output();
  base = /API\s+(http:\/\/\S+)\/v1/.exec(output)![1]!;
  adminKey = /^\s+(iq_\S+)$/m.exec(output)![1]!;
}, 90_000);

afterAll(async () => {
  await serve?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Polls a task's result the way the README's curl loop does. */
async function resultOf(id: string, headers: Record<string, string>): Promise<unknown> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const response = await fetch(`${base}/v1/tasks/${id}/result`, { headers });
    if (response.status === 200) return ((await response.json()) as { result: unknown }).result;
    if (Date.now() > deadline)
      throw new Error(`no result for ${id}: ${response.status} ${await response.text()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

it('prints the API, docs and dashboard URLs and a first admin key once; keeps the secret private', async () => {
  expect(output).toContain(`${base}/docs`);
  expect(output).toMatch(/dashboard\s+http/);
  // The token signing secret lives in the auth store (auth.db, private), not in a file of its own.
  expect((await stat(path.join(dir, 'auth.db'))).mode & 0o777).toBe(0o600);
  expect(existsSync(path.join(dir, 'jwt-secret'))).toBe(false);
});

it('serves health, docs and the README flow: token, submit, read, list', async () => {
  expect((await fetch(`${base}/healthz`)).status).toBe(200);
  expect((await fetch(`${base}/readyz`)).status).toBe(200);
  const spec = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, unknown> };
  expect(spec.paths['/v1/tasks']).toBeDefined();
  expect((await fetch(`${base}/v1/models`)).status).toBe(401);

  const token = await fetch(`${base}/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ apiKey: adminKey }),
  });
  const { token: jwt } = (await token.json()) as { token: string };
  const auth = { authorization: `Bearer ${jwt}` };

  const models = (await (await fetch(`${base}/v1/models`, { headers: auth })).json()) as {
    items: { name: string; ref: string; workers: number | null }[];
  };
  expect(models.items.map((m) => m.name)).toContain('echo');
  // Every model and pipeline of the embedded server is served: the pipeline counts its
  // coordinating worker too (it showed 0).
  for (const m of models.items) expect([m.ref, m.workers]).toEqual([m.ref, 1]);

  const form = new FormData();
  form.append('target', 'echo');
  form.append('file', new Blob(['hello inferq']), 'hello.txt');
  const submitted = await fetch(`${base}/v1/tasks`, { method: 'POST', headers: auth, body: form });
  expect(submitted.status).toBe(202);
  const { tasks } = (await submitted.json()) as { tasks: { id: string }[] };
  const task = (await (await fetch(`${base}/v1/tasks/${tasks[0]!.id}`, { headers: auth })).json()) as {
    state: string;
  };
  expect(['queued', 'running', 'succeeded']).toContain(task.state);
  const input = await fetch(`${base}/v1/tasks/${tasks[0]!.id}/input`, { headers: auth });
  expect(await input.text()).toBe('hello inferq');
  const list = (await (await fetch(`${base}/v1/tasks`, { headers: auth })).json()) as { items: unknown[] };
  expect(list.items).toHaveLength(1);
  // The embedded workers run it.
  expect(await resultOf(tasks[0]!.id, auth)).toMatchObject({
    sha256: createHash('sha256').update('hello inferq').digest('hex'),
  });
});

it('keeps tasks and queue in one SQLite file (inferq.db): no queue.db', () => {
  const queueLine = output.split('\n').find((line) => /^\s+queue\s/.test(line));
  expect(queueLine).toContain(`sqlite:${path.join(dir, 'inferq.db')}`);
  expect(existsSync(path.join(dir, 'inferq.db'))).toBe(true);
  expect(existsSync(path.join(dir, 'queue.db'))).toBe(false);
});

it('reads the text of an image through the bundled ocr pipeline, with the real models', async () => {
  const auth = { authorization: `Bearer ${adminKey}` };
  const png = await renderText([{ text: 'Hello World 2026', x: 20, y: 80, size: 56 }], {
    width: 640,
    height: 120,
  });
  const form = new FormData();
  form.append('target', 'ocr');
  form.append('file', new Blob([png]), 'hello.png');
  const submitted = await fetch(`${base}/v1/tasks`, { method: 'POST', headers: auth, body: form });
  expect(submitted.status).toBe(202);
  const { tasks } = (await submitted.json()) as { tasks: { id: string }[] };
  const result = (await resultOf(tasks[0]!.id, auth)) as { text: string; lines: { text: string }[] };
  expect(result.text).toBe('Hello World 2026');
  expect(result.lines).toHaveLength(1);
}, 90_000);

it('answers a repeat submission from the result cache: a model, and the ocr pipeline', async () => {
  const auth = { authorization: `Bearer ${adminKey}` };
  const submit = async (target: string, body: Blob, params?: unknown) => {
    const form = new FormData();
    form.append('target', target);
    if (params !== undefined) form.append('params', JSON.stringify(params));
    form.append('file', body, 'input');
    const response = await fetch(`${base}/v1/tasks`, { method: 'POST', headers: auth, body: form });
    expect(response.status).toBe(202);
    return ((await response.json()) as { tasks: Array<{ id: string; state: string; cached: boolean }> })
      .tasks[0]!;
  };
  const text = new Blob([`cache me ${Math.random()}`]);
  const first = await submit('echo', text);
  expect(first.cached).toBe(false);
  const result = await resultOf(first.id, auth);
  // Same version, input and params: done at once, nothing queued, the first task's result.
  const again = await submit('echo', text);
  expect(again).toMatchObject({ state: 'succeeded', cached: true });
  expect(await resultOf(again.id, auth)).toEqual(result);
  // Other params are other work.
  expect((await submit('echo', text, { delayMs: 1 })).cached).toBe(false);

  const png = new Blob([
    await renderText([{ text: 'Cached 42', x: 20, y: 80, size: 56 }], { width: 420, height: 120 }),
  ]);
  const ocr = await submit('ocr', png);
  const read = (await resultOf(ocr.id, auth)) as { text: string };
  expect(read.text).toBe('Cached 42');
  const ocrAgain = await submit('ocr', png);
  expect(ocrAgain).toMatchObject({ state: 'succeeded', cached: true });
  expect(await resultOf(ocrAgain.id, auth)).toEqual(read);
}, 90_000);

it('a second serve on a port in use says so, exits 2, and leaves no worker registered as running', async () => {
  const port = Number(new URL(base).port);
  const second = await runInferq(['serve', '--port', String(port), '--data-dir', dir, '--log-level', 'warn']);
  expect(second.code).toBe(2);
  expect(second.stderr).toMatch(
    new RegExp(`inferq: INFERQ_CONFIG_INVALID: cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use`),
  );
  expect(second.stderr).not.toMatch(/\n\s+at /); // a sentence, not a stack trace
  // Its worker thread started and stopped again: the registry shows only the first server's.
  const workers = (await (
    await fetch(`${base}/v1/workers`, { headers: { authorization: `Bearer ${adminKey}` } })
  ).json()) as { items: Array<{ pid: number; state: string }> };
  const running = workers.items.filter((w) => w.state === 'running');
  expect(running.map((w) => w.pid)).toEqual([serve.child.pid]);
}, 90_000);
