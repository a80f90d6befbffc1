import { cpSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bundledModelsDir } from '../../src/runtime/model-repository.js';
import { type ServeProcess, startServe } from '../fixtures/cli-process.js';
import { renderText } from '../fixtures/render-text.js';
import { tempModelsDir } from '../fixtures/temp-models.js';

// The fast path (predict with durable: false, OIP infer) against a real `inferq serve`: answered
// now, nothing stored; a bounded queue per model (full: 503 + Retry-After); a caller that
// disconnects while queued takes its request out (it never runs).
const models = tempModelsDir();
for (const name of ['echo', 'ocr-cls']) {
  cpSync(path.join(bundledModelsDir, name), path.join(models.dir, name), { recursive: true });
}
// One item per batch; each input says how long to hold it (ms) and gets its run number, so a
// request that never ran leaves no gap-free count.
models.write('slow', {
  'model.yaml':
    'name: slow\nversion: 1.0.0\nruntime: js\nartifact: ./model.js\ninput:\n  kind: text\nbatching:\n  maxBatchSize: 1\n  maxDelayMs: 0\nmaxAttempts: 1\n',
  'model.js': `let runs = 0;
export function load() {}
export async function predict(inputs) {
  const out = [];
  for (const input of inputs) {
    const text = Buffer.from(input.bytes).toString('utf8');
    const run = runs++;
    await new Promise((resolve) => setTimeout(resolve, Number(text.split(' ')[0])));
    out.push({ text, run });
  }
  return out;
}
`,
});

// process.exit() in a worker thread ends that thread (serve replaces it), not the process.
models.write('quit', {
  'model.yaml':
    'name: quit\nversion: 1.0.0\nruntime: js\nartifact: ./model.js\ninput:\n  kind: text\nmaxAttempts: 1\n',
  'model.js': 'export function load() {}\nexport async function predict() {\n  process.exit(7);\n}\n',
});

let serve: ServeProcess;
let base: string;
let auth: Record<string, string>;

beforeAll(async () => {
  serve = await startServe(`models:\n  dir: ${JSON.stringify(models.dir)}\nworkers:\n  fastQueueLimit: 2\n`);
  ({ base, auth } = serve);
}, 90_000);

afterAll(async () => {
  await serve?.stop();
  models.cleanup();
});

const predict = (model: string, body: object, signal?: AbortSignal) =>
  fetch(`${base}/v1/models/${model}/predict`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });

/** One sample of the server's /metrics. */
async function metric(name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

it('answers predict with durable: false at once, from the body field or the query, storing no task', async () => {
  const body = await predict('echo', { text: 'fast hello', durable: false, params: { x: 1 } });
  expect(body.status).toBe(200);
  const answer = (await body.json()) as Record<string, unknown>;
  expect(answer).toMatchObject({ target: 'echo@1.0.0', state: 'succeeded', durable: false });
  expect(answer.id).toBeUndefined();
  expect(answer.result).toMatchObject({ bytes: 10, params: { x: 1 } });

  // Multipart takes ?durable=false; an image model gets the file's bytes.
  const line = await renderText([{ text: 'fast path', x: 8, y: 34, size: 26 }], { width: 200, height: 48 });
  const form = new FormData();
  form.append('file', new Blob([line]), 'line.png');
  const multipart = await fetch(`${base}/v1/models/ocr-cls/predict?durable=false`, {
    method: 'POST',
    headers: auth,
    body: form,
  });
  expect(multipart.status).toBe(200);
  expect(((await multipart.json()) as { result: { label: string } }).result.label).toBe('0');

  // Nothing of either reached the task store.
  const tasks = (await (await fetch(`${base}/v1/tasks`, { headers: auth })).json()) as { items: unknown[] };
  expect(tasks.items).toEqual([]);
  expect(await metric('inferq_fast_requests_total', 'outcome="succeeded"')).toBeGreaterThanOrEqual(1);
}, 60_000);

it('keeps durable predict as it was: a stored task with its id', async () => {
  const response = await predict('echo', { text: 'durable hello' });
  expect(response.status).toBe(200);
  const task = (await response.json()) as { id: string; state: string };
  expect(task.state).toBe('succeeded');
  expect((await fetch(`${base}/v1/tasks/${task.id}`, { headers: auth })).status).toBe(200);
});

it('refuses a request over the queue limit with 503 and Retry-After; a caller that leaves never runs', async () => {
  const slow = (text: string, signal?: AbortSignal) => predict('slow', { text, durable: false }, signal);
  const labels = 'model="slow@1.0.0"';
  // Two requests occupy the model's two fast loops (one batch of one each)...
  const running = [slow('1500 a'), slow('1500 b')];
  await expect.poll(() => metric('inferq_fast_batch_size_count', labels), { timeout: 20_000 }).toBe(2);
  // ...two more fill its queue (fastQueueLimit: 2): the first of them will leave.
  const leaving = new AbortController();
  const left = slow('10 c', leaving.signal).catch((err: unknown) => err);
  await expect.poll(() => metric('inferq_fast_queue_depth', labels), { timeout: 20_000 }).toBe(1);
  const stays = slow('10 d');
  await expect.poll(() => metric('inferq_fast_queue_depth', labels), { timeout: 20_000 }).toBe(2);

  const refused = await slow('10 e');
  expect(refused.status).toBe(503);
  expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('INFERQ_FAST_PATH_BUSY');

  leaving.abort();
  expect(await left).toBeInstanceOf(Error);
  await expect.poll(() => metric('inferq_fast_requests_total', `${labels},outcome="cancelled"`)).toBe(1);
  expect(await metric('inferq_fast_queue_depth', labels)).toBe(1);

  const answers = await Promise.all([...running, stays].map(async (r) => (await r).json()));
  const runs = answers.map((a) => (a as { result: { text: string; run: number } }).result);
  // a and b ran first (0 and 1); d ran third: c, queued before it, never ran.
  expect(runs.map((r) => r.run).sort()).toEqual([0, 1, 2]);
  expect(runs.find((r) => r.text === '10 d')?.run).toBe(2);
}, 60_000);

it('fails a request whose worker thread dies at once with INFERQ_WORKER_LOST; the API lives on', async () => {
  const lost = await predict('quit', { text: 'bye', durable: false });
  expect(lost.status).toBe(500);
  expect(((await lost.json()) as { error: { code: string } }).error.code).toBe('INFERQ_WORKER_LOST');
  expect((await fetch(`${base}/healthz`)).status).toBe(200);
  // The thread is replaced within a second or so; fast calls are served again.
  await expect
    .poll(async () => (await predict('echo', { text: 'again', durable: false })).status, {
      timeout: 30_000,
      interval: 200,
    })
    .toBe(200);
}, 60_000);
