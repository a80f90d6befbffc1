import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type InferqProcess, startInferq } from '../fixtures/cli-process.js';
import { tempModelsDir } from '../fixtures/temp-models.js';

// The fast path across processes: an API host without workers (`serve --no-workers`) answers
// predict with durable: false through worker processes started with `--realtime`, found through
// their heartbeats and reached over ZeroMQ. A worker SIGKILLed mid-request: its request is
// answered by the other worker, and the API lives on.
const models = tempModelsDir();
// Holds each input the milliseconds its text starts with, and says which process ran it.
models.write('slow', {
  'model.yaml':
    'name: slow\nversion: 1.0.0\nruntime: js\nartifact: ./model.js\ninput:\n  kind: text\nbatching:\n  maxBatchSize: 8\n  maxDelayMs: 0\nmaxAttempts: 1\n',
  'model.js': `export function load() {}
export async function predict(inputs) {
  const out = [];
  for (const input of inputs) {
    const text = Buffer.from(input.bytes).toString('utf8');
    await new Promise((resolve) => setTimeout(resolve, Number(text.split(' ')[0])));
    out.push({ text, pid: process.pid });
  }
  return out;
}
`,
});

let dir: string;
let api: InferqProcess;
let base: string;
let auth: Record<string, string>;
const workers: InferqProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'inferq-realtime-'));
  const config = path.join(dir, 'inferq.yaml');
  await writeFile(config, `models:\n  dir: ${JSON.stringify(models.dir)}\n`);
  const common = ['--config', config, '--data-dir', path.join(dir, 'data'), '--log-level', 'warn'];
  api = await startInferq(['serve', '--no-workers', '--port', '0', ...common], /Press Ctrl\+C/, 60_000);
  base = /API\s+(http:\/\/\S+)\/v1/.exec(api.output())![1]!;
  auth = { authorization: `Bearer ${/^\s+(iq_\S+)$/m.exec(api.output())![1]!}` };
  for (let i = 0; i < 2; i++) {
    workers.push(
      await startInferq(
        ['worker', ...common, '--realtime', 'tcp://127.0.0.1:0'],
        /fast path over ZeroMQ at tcp:/,
        60_000,
      ),
    );
  }
}, 180_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop('SIGKILL')));
  await api?.stop();
  await rm(dir, { recursive: true, force: true });
  models.cleanup();
});

const fast = (text: string) =>
  fetch(`${base}/v1/models/slow/predict`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ text, durable: false }),
  });

it('an API host without workers answers durable: false through remote workers over ZeroMQ, storing no task', async () => {
  // Found through the heartbeats (the registry is read every 2 s), then alive at their first pong.
  await expect.poll(async () => (await fast('0 hello')).status, { timeout: 30_000, interval: 250 }).toBe(200);
  // The second worker may be found a registry read later: pairs of calls until both answered.
  const pids = new Set<number>();
  const until = Date.now() + 20_000;
  for (let i = 0; Date.now() < until; i++) {
    const answers = await Promise.all([fast(`20 a${i}`), fast(`20 b${i}`)]);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      const body = (await answer.json()) as {
        id?: string;
        durable: boolean;
        result: { text: string; pid: number };
      };
      expect(body.id).toBeUndefined();
      expect(body.durable).toBe(false);
      pids.add(body.result.pid);
    }
    if (pids.size === 2) break;
  }
  // Both workers take calls (the fewest in flight first).
  expect([...pids].sort()).toEqual(workers.map((w) => w.child.pid).sort());
  const tasks = (await (await fetch(`${base}/v1/tasks`, { headers: auth })).json()) as { items: unknown[] };
  expect(tasks.items).toEqual([]);
}, 60_000);

it('a worker SIGKILLed mid-request: the request is answered by the other worker, and the API lives on', async () => {
  const [victim, survivor] = workers as [InferqProcess, InferqProcess];
  // Two long calls at once: one on each worker.
  const calls = [fast('3000 first'), fast('3000 second')];
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  await victim.stop('SIGKILL');
  const answers = await Promise.all(calls);
  for (const answer of answers) {
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { result: { pid: number } }).result.pid).toBe(survivor.child.pid);
  }
  expect((await fast('0 after')).status).toBe(200);
  expect((await fetch(`${base}/healthz`)).status).toBe(200);
}, 60_000);
