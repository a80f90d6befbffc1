import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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
// Holds each input the milliseconds its text starts with, and says which process ran it (also
// in runs.log beside it, as each run starts). An OIP model too: one BYTES input and output.
const slowDir = models.write('slow', {
  'model.yaml':
    'name: slow\nversion: 1.0.0\nruntime: js\nartifact: ./model.js\ninput:\n  kind: text\nbatching:\n  maxBatchSize: 8\n  maxDelayMs: 0\nmaxAttempts: 1\ntensors:\n  inputs:\n    - { name: TEXT, datatype: BYTES, shape: [1] }\n  outputs:\n    - { name: text, datatype: BYTES, shape: [1] }\n',
  'model.js': `import { appendFileSync } from 'node:fs';
export function load() {}
export async function predict(inputs) {
  const out = [];
  for (const input of inputs) {
    const text = Buffer.from(input.bytes).toString('utf8');
    appendFileSync(new URL('./runs.log', import.meta.url), process.pid + ' ' + text + '\\n');
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
let common: string[];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'inferq-realtime-'));
  const config = path.join(dir, 'inferq.yaml');
  await writeFile(config, `models:\n  dir: ${JSON.stringify(models.dir)}\n`);
  common = ['--config', config, '--data-dir', path.join(dir, 'data'), '--log-level', 'warn'];
  api = await startInferq(['serve', '--no-workers', '--port', '0', ...common], /Press Ctrl\+C/, 60_000);
  base = /API\s+(http:\/\/\S+)\/v1/.exec(api.output())![1]!;
  auth = { authorization: `Bearer ${/^\s+(iq_\S+)$/m.exec(api.output())![1]!}` };
  for (let i = 0; i < 2; i++) workers.push(await startWorker());
}, 180_000);

const startWorker = () =>
  startInferq(
    ['worker', ...common, '--realtime', 'tcp://127.0.0.1:0'],
    /fast path over ZeroMQ at tcp:/,
    60_000,
  );

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop('SIGKILL')));
  await api?.stop();
  await rm(dir, { recursive: true, force: true });
  models.cleanup();
});

const fast = (text: string, fields: Record<string, unknown> = {}) =>
  fetch(`${base}/v1/models/slow/predict`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ text, durable: false, ...fields }),
  });

/** The process that started running `text` (runs.log), once one has. */
async function runnerOf(text: string): Promise<number> {
  let pid: number | undefined;
  await expect
    .poll(
      async () => {
        const log = await readFile(path.join(slowDir, 'runs.log'), 'utf8').catch(() => '');
        const line = log.split('\n').find((l) => l.endsWith(` ${text}`));
        pid = line === undefined ? undefined : Number(line.split(' ')[0]);
        return pid;
      },
      { timeout: 20_000 },
    )
    .toBeDefined();
  return pid!;
}

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

it("resend: false (predict's body field, OIP infer's parameters.resend): a worker SIGKILLed mid-call fails it with 503 INFERQ_FAST_PATH_WORKER_LOST instead of re-sending it", async () => {
  const live = [workers[1]!, await startWorker()];
  workers.push(live[1]!);
  // Until the new worker is found (registry) and alive (pong): calls reach both.
  const pids = new Set<number>();
  await expect
    .poll(
      async () => {
        const answers = await Promise.all([fast('20 warm-a'), fast('20 warm-b')]);
        for (const a of answers) pids.add(((await a.json()) as { result: { pid: number } }).result.pid);
        return pids.size;
      },
      { timeout: 30_000, interval: 100 },
    )
    .toBe(2);
  const oip = (text: string) =>
    fetch(`${base}/v2/models/slow/infer`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [{ name: 'TEXT', datatype: 'BYTES', shape: [1], data: [text] }],
        parameters: { resend: false },
      }),
    });
  // Two at-most-once calls at once, one on each worker (the fewest in flight): kill the worker
  // of the predict call; the other worker answers the OIP call. Then the other way round.
  for (const [round, victimRuns] of (['predict', 'oip'] as const).entries()) {
    const calls = { predict: fast(`3000 once-${round}`, { resend: false }), oip: oip(`3000 oip-${round}`) };
    const texts = { predict: `3000 once-${round}`, oip: `3000 oip-${round}` };
    const victimPid = await runnerOf(texts[victimRuns]);
    await runnerOf(texts[victimRuns === 'predict' ? 'oip' : 'predict']);
    const victim = live.find((w) => w.child.pid === victimPid)!;
    await victim.stop('SIGKILL');
    const lost = await calls[victimRuns];
    const served = await calls[victimRuns === 'predict' ? 'oip' : 'predict'];
    expect(lost.status).toBe(503);
    const body = (await lost.json()) as { error: unknown; code?: string };
    // /v1's error shape, or the protocol's (the message where Triton's client reads it).
    expect(victimRuns === 'predict' ? (body.error as { code: string }).code : body.code).toBe(
      'INFERQ_FAST_PATH_WORKER_LOST',
    );
    expect(served.status).toBe(200);
    // Not re-sent: the lost call never started on another worker.
    const log = await readFile(path.join(slowDir, 'runs.log'), 'utf8');
    expect(log.split('\n').filter((l) => l.endsWith(` ${texts[victimRuns]}`))).toHaveLength(1);
    if (round === 0) {
      const replacement = await startWorker();
      workers.push(replacement);
      live.splice(live.indexOf(victim), 1, replacement);
      pids.clear();
      await expect
        .poll(
          async () => {
            const answers = await Promise.all([fast('20 warm-c'), fast('20 warm-d')]);
            for (const a of answers) pids.add(((await a.json()) as { result: { pid: number } }).result.pid);
            return pids.has(replacement.child.pid!) ? 2 : 1;
          },
          { timeout: 30_000, interval: 100 },
        )
        .toBe(2);
    }
  }
}, 120_000);
