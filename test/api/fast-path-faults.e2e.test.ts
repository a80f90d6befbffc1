import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ServeProcess, startServe } from '../fixtures/cli-process.js';
import { renderText } from '../fixtures/render-text.js';
import { tempModelsDir } from '../fixtures/temp-models.js';

// The fast path's faults against a real `inferq serve`: a batch the model refuses as a whole is
// run again item by item (one bad item never takes its batch-mates down), and a call past its
// timeout answers 504 INFERQ_FAST_PATH_TIMEOUT and is cancelled in its model's lane.
const models = tempModelsDir();
// A JS image model that refuses its whole batch when one input is not a whole PNG (it checks
// each file's IEND trailer), as a model that decodes its batch at once does; `holdMs` holds a
// batch, so that the next one forms while it runs.
models.write('strict', {
  'model.yaml':
    'name: strict\nversion: 1.0.0\nruntime: js\nartifact: ./model.js\ninput:\n  kind: image\nbatching:\n  maxBatchSize: 8\n  maxDelayMs: 1000\nmaxAttempts: 1\n',
  'model.js': `export function load() {}
export async function predict(inputs, params) {
  if (params.holdMs) {
    await new Promise((resolve) => setTimeout(resolve, params.holdMs));
    return inputs.map(() => ({ held: true }));
  }
  inputs.forEach((input, i) => {
    const bytes = Buffer.from(input.bytes);
    if (bytes.subarray(-8, -4).toString('latin1') !== 'IEND') {
      throw Object.assign(new Error('input ' + i + ' of the batch is not a whole PNG'), { code: 'INFERQ_INPUT_UNDECODABLE' });
    }
  });
  return inputs.map((input) => ({ bytes: input.bytes.byteLength, batch: inputs.length }));
}
`,
});
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

let serve: ServeProcess;
let base: string;
let auth: Record<string, string>;

beforeAll(async () => {
  serve = await startServe(`models:\n  dir: ${JSON.stringify(models.dir)}\n`);
  ({ base, auth } = serve);
}, 90_000);

afterAll(async () => {
  await serve?.stop();
  models.cleanup();
});

const predict = (model: string, body: object, query = '') =>
  fetch(`${base}/v1/models/${model}/predict${query}`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

const answer = async (response: Response | Promise<Response>) => {
  const r = await response;
  return {
    status: r.status,
    body: (await r.json()) as { result?: Record<string, unknown>; error?: { code: string; message: string } },
  };
};

/** One sample of the server's /metrics. */
async function metric(name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

it('runs a batch the model refuses as a whole again item by item: the good images answer 200, the bad one its 422', async () => {
  const labels = 'model="strict@1.0.0"';
  const png = async (text: string) =>
    (await renderText([{ text, x: 8, y: 34, size: 26 }], { width: 200, height: 48 })).toString('base64');
  const good = await Promise.all(['one', 'two', 'three'].map(png));
  const whole = Buffer.from(good[0]!, 'base64');
  const bad = whole.subarray(0, whole.length - 40).toString('base64');
  // One batch runs (held), so the model's next batch waits its window: the four below join it.
  const held = predict('strict', { data: good[0], durable: false, params: { holdMs: 1_500 } });
  await expect.poll(() => metric('inferq_fast_batch_size_count', labels), { timeout: 20_000 }).toBe(1);
  const answers = await Promise.all(
    [good[0], bad, good[1], good[2]].map((data) => answer(predict('strict', { data, durable: false }))),
  );
  expect((await held).status).toBe(200);
  // The four made one batch, which the model refused as a whole...
  const upTo = (le: number) => metric('inferq_fast_batch_size_bucket', `le="${le}",${labels}`);
  expect((await upTo(4)) - (await upTo(2))).toBe(1);
  // ...and each ran again alone: only the bad image failed, with the model's own code.
  const [first, broken, second, third] = answers;
  for (const ok of [first, second, third]) {
    expect(ok).toMatchObject({ status: 200, body: { result: { batch: 1 } } });
  }
  expect(broken).toMatchObject({ status: 422, body: { error: { code: 'INFERQ_INPUT_UNDECODABLE' } } });
  expect(await metric('inferq_fast_requests_total', `${labels},outcome="failed"`)).toBe(1);
}, 60_000);

it('answers a fast call past its timeoutMs with 504 INFERQ_FAST_PATH_TIMEOUT and cancels it in the lane', async () => {
  const labels = 'model="slow@1.0.0"';
  // Running past its timeout: answered at the deadline, not when the run ends.
  const running = await answer(predict('slow', { text: '4000 long', durable: false }, '?timeoutMs=300'));
  expect(running).toMatchObject({
    status: 504,
    body: { error: { code: 'INFERQ_FAST_PATH_TIMEOUT', details: { model: 'slow@1.0.0', timeoutMs: 300 } } },
  });
  expect(running.body.error?.message).toContain('did not answer within 300 ms');
  // Waiting past its timeout: the two loops of the model are busy (the call above still runs,
  // its answer dropped, and one more), so the next call waits in the queue until its deadline.
  const busy = predict('slow', { text: '2000 busy', durable: false });
  await expect.poll(() => metric('inferq_fast_batch_size_count', labels), { timeout: 20_000 }).toBe(2);
  const waited = await answer(predict('slow', { text: '0 queued', durable: false }, '?timeoutMs=200'));
  expect(waited).toMatchObject({ status: 504, body: { error: { code: 'INFERQ_FAST_PATH_TIMEOUT' } } });
  // Taken out of the queue: it never runs (the next call is run 2, after "long" 0, "busy" 1).
  // ("long" was running: it ran on, its answer dropped.)
  expect(await metric('inferq_fast_queue_depth', labels)).toBe(0);
  expect(await metric('inferq_fast_requests_total', `${labels},outcome="cancelled"`)).toBe(1);
  expect((await answer(busy)).body.result).toMatchObject({ text: '2000 busy', run: 1 });
  expect((await answer(predict('slow', { text: '0 after', durable: false }))).body.result).toMatchObject({
    run: 2,
  });
}, 60_000);

it('stops while a fast call runs: the call is answered, and serve exits without waiting out the keep-alive', async () => {
  const labels = 'model="slow@1.0.0"';
  const before = await metric('inferq_fast_batch_size_count', labels);
  const running = answer(predict('slow', { text: '1500 last', durable: false }));
  await expect.poll(() => metric('inferq_fast_batch_size_count', labels)).toBe(before + 1);
  const stopped = serve.stop();
  expect((await running).body.result).toMatchObject({ text: '1500 last' });
  // Before: the call's keep-alive connection held the close for Fastify's 72 s keepAliveTimeout.
  await stopped;
  expect(serve.process.child.exitCode).toBe(0);
}, 30_000);
