import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ServeProcess, startServe } from '../fixtures/cli-process.js';
import { tempModelsDir } from '../fixtures/temp-models.js';

// `inferq serve` runs its models in worker threads: a JS model that holds its thread does not
// hold the API, a thread that dies is replaced, and the threads' metrics reach /metrics.
const models = tempModelsDir();
const jsModel = (name: string, predict: string) => ({
  'model.yaml': `name: ${name}\nversion: 1.0.0\nruntime: js\nartifact: ./model.js\ninput:\n  kind: text\nmaxAttempts: 1\n`,
  'model.js': `export function load() {}\nexport async function predict(inputs) {\n${predict}\n}\n`,
});
// Synchronous work: on the API's event loop it would stall every request for its length.
models.write(
  'spin',
  jsModel(
    'spin',
    'const until = Date.now() + 4000; while (Date.now() < until); return inputs.map(() => ({ spun: true }));',
  ),
);
// process.exit() in a worker thread ends that thread, not the process.
models.write('quit', jsModel('quit', 'process.exit(7);'));
models.write('hello', jsModel('hello', "return inputs.map(() => ({ hello: 'world' }));"));

let serve: ServeProcess;
let base: string;
let auth: Record<string, string>;

beforeAll(async () => {
  serve = await startServe(`models:\n  dir: ${JSON.stringify(models.dir)}\nbroker:\n  leaseMs: 2000\n`);
  ({ base, auth } = serve);
}, 90_000);

afterAll(async () => {
  await serve?.stop();
  models.cleanup();
});

async function submit(target: string): Promise<string> {
  const response = await fetch(`${base}/v1/tasks`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ target, text: `${target} ${Math.random()}` }),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { tasks: Array<{ id: string }> }).tasks[0]!.id;
}

async function task(id: string): Promise<{ state: string; result?: unknown; error?: unknown }> {
  return (await (await fetch(`${base}/v1/tasks/${id}`, { headers: auth })).json()) as { state: string };
}

it('answers HTTP while a JS model computes: the model runs off the API thread', async () => {
  const id = await submit('spin');
  await expect.poll(async () => (await task(id)).state, { timeout: 30_000, interval: 20 }).toBe('running');
  // Answered while the model still holds its thread: the task has not finished meanwhile.
  expect((await fetch(`${base}/healthz`)).status).toBe(200);
  expect((await task(id)).state).toBe('running');
  await expect.poll(async () => (await task(id)).state, { timeout: 30_000 }).toBe('succeeded');
}, 60_000);

it('replaces a worker thread that dies, and serves on', async () => {
  const doomed = await submit('quit');
  await expect
    .poll(() => serve.process.output(), { timeout: 30_000 })
    .toMatch(/worker thread exited; restarting/);
  const id = await submit('hello');
  await expect
    .poll(async () => task(id), { timeout: 30_000 })
    .toMatchObject({
      state: 'succeeded',
      result: { hello: 'world' },
    });
  // Its job comes back once its lease expires; with its one attempt used, the task fails
  // instead of ending thread after thread.
  await expect
    .poll(async () => task(doomed), { timeout: 30_000 })
    .toMatchObject({ state: 'failed', error: { code: 'INFERQ_WORKER_LOST' } });
}, 90_000);

it("sums the worker threads' metrics into /metrics", async () => {
  const metrics = await (await fetch(`${base}/metrics`)).text();
  expect(metrics).toMatch(/^inferq_items_total\{model="hello@1\.0\.0",outcome="succeeded"\} [1-9]/m);
  expect(metrics).toMatch(/^inferq_http_requests_total\{/m);
});
