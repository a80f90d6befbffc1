import { describe, expect, it } from 'vitest';
import type { ModelSpec } from '../../src/core/model-spec.js';
import type { ModelInput, PredictParams, PredictResult } from '../../src/runtime/runtime.js';
import { FastLanes } from '../../src/worker/fast-lanes.js';

// The fast lanes' own logic (queue bound, batching rule, params groups, preferred sizes,
// cancel) over a recording run function: a unit test of the logic above the worker threads.
const spec = (batching: ModelSpec['batching']): ModelSpec =>
  ({ name: 'm', version: '1.0.0', runtime: 'js', input: { kind: 'text' }, batching }) as ModelSpec;
const text = (s: string): ModelInput => ({ bytes: new TextEncoder().encode(s) });
const textOf = (input: ModelInput) => new TextDecoder().decode((input as { bytes: Uint8Array }).bytes);

/** A run function that records each batch and answers when `release` is called (or at once). */
function recorder(options: { hold?: boolean } = {}) {
  const batches: Array<{ texts: string[]; params: PredictParams }> = [];
  const waiting: Array<() => void> = [];
  const run = async (_ref: string, inputs: ModelInput[], params: PredictParams): Promise<PredictResult[]> => {
    batches.push({ texts: inputs.map(textOf), params });
    if (options.hold) await new Promise<void>((resolve) => waiting.push(resolve));
    return inputs.map((i) => ({ ok: true, output: textOf(i).toUpperCase() }));
  };
  const release = () => {
    for (const resume of waiting.splice(0)) resume();
  };
  return { batches, run, release };
}

/** Sends one request and waits until its batch runs (the `n`th batch): it holds one loop. */
async function occupy(
  lanes: FastLanes,
  r: ReturnType<typeof recorder>,
  t: string,
  n: number,
): Promise<{ answer: Promise<PredictResult> }> {
  const answer = lanes.infer('m@1.0.0', text(t), {});
  await expect.poll(() => r.batches.length).toBe(n);
  // Wrapped: an async function returning the promise itself would wait for the answer.
  return { answer };
}

describe('FastLanes', () => {
  it('opens the batching window only while another batch of the model runs', async () => {
    const r = recorder({ hold: true });
    const lanes = new FastLanes({
      models: [{ ref: 'm@1.0.0', spec: spec({ maxBatchSize: 8, maxDelayMs: 400 }) }],
      run: r.run,
      copies: 1,
      queueLimit: 100,
    });
    // Idle model: a lone request runs at once, not after the 400 ms window...
    const lone = lanes.infer('m@1.0.0', text('a'), {});
    await expect.poll(() => r.batches.length, { timeout: 300, interval: 5 }).toBe(1);
    // ...and while it runs, the next loop waits the window for batch-mates.
    const mates = [lanes.infer('m@1.0.0', text('b'), {})];
    await new Promise((resolve) => setTimeout(resolve, 50));
    mates.push(lanes.infer('m@1.0.0', text('c'), {}));
    await expect.poll(() => r.batches.length, { timeout: 2_000 }).toBe(2);
    expect(r.batches[1]!.texts).toEqual(['b', 'c']);
    r.release();
    await expect.poll(async () => (await Promise.all([lone, ...mates])).length).toBe(3);
    await lanes.stop();
  });

  it('closes the batching window when the running batch ends: the model never idles for mates', async () => {
    const r = recorder({ hold: true });
    const lanes = new FastLanes({
      models: [{ ref: 'm@1.0.0', spec: spec({ maxBatchSize: 8, maxDelayMs: 60_000 }) }],
      run: r.run,
      copies: 1,
      queueLimit: 100,
    });
    const first = (await occupy(lanes, r, 'a', 1)).answer;
    // While "a" runs, "b" waits in the next loop's window (a minute long)...
    const mate = lanes.infer('m@1.0.0', text('b'), {});
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(r.batches).toHaveLength(1);
    // ...until "a"'s batch ends: the model could take "b" now, so it goes now.
    r.release();
    await expect.poll(() => r.batches.length).toBe(2);
    expect(r.batches[1]!.texts).toEqual(['b']);
    r.release();
    expect((await Promise.all([first, mate])).map((a) => (a.ok ? a.output : null))).toEqual(['A', 'B']);
    await lanes.stop();
  });

  it('answers each caller with its own item of a batch, batching what waits together', async () => {
    const r = recorder({ hold: true });
    const lanes = new FastLanes({
      models: [{ ref: 'm@1.0.0', spec: spec({ maxBatchSize: 8, maxDelayMs: 0 }) }],
      run: r.run,
      copies: 1,
      queueLimit: 100,
    });
    // Two loops for one copy: two requests one after the other hold both, the next five wait
    // and form one batch.
    const first = [(await occupy(lanes, r, 'a', 1)).answer, (await occupy(lanes, r, 'b', 2)).answer];
    const rest = ['c', 'd', 'e', 'f', 'g'].map((t) => lanes.infer('m@1.0.0', text(t), {}));
    r.release();
    await expect.poll(() => r.batches.length).toBe(3);
    r.release();
    const answers = await Promise.all([...first, ...rest]);
    expect(answers.map((a) => (a.ok ? a.output : null))).toEqual(['A', 'B', 'C', 'D', 'E', 'F', 'G']);
    expect(r.batches[2]!.texts).toEqual(['c', 'd', 'e', 'f', 'g']);
    await lanes.stop();
  });

  it('splits a batch by params and by preferredBatchSizes', async () => {
    const r = recorder({ hold: true });
    const lanes = new FastLanes({
      models: [{ ref: 'm@1.0.0', spec: spec({ maxBatchSize: 32, maxDelayMs: 0, preferredBatchSizes: [4] }) }],
      run: r.run,
      copies: 1,
      queueLimit: 100,
    });
    const blockers = [(await occupy(lanes, r, 'x', 1)).answer, (await occupy(lanes, r, 'y', 2)).answer];
    const queued = [
      ...Array.from({ length: 6 }, (_, i) => lanes.infer('m@1.0.0', text(`p${i}`), { k: 1 })),
      lanes.infer('m@1.0.0', text('q'), { k: 2 }),
    ];
    // Release every held run until all have answered (each chunk of a batch runs in turn).
    let done = false;
    const all = Promise.all([...blockers, ...queued]).then(() => {
      done = true;
    });
    while (!done) {
      r.release();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await all;
    const later = r.batches.slice(2).map((b) => [b.texts.length, b.params]);
    expect(later).toEqual([
      [4, { k: 1 }],
      [2, { k: 1 }],
      [1, { k: 2 }],
    ]);
    await lanes.stop();
  });

  it('refuses past the queue limit (INFERQ_FAST_PATH_BUSY) and drops a cancelled waiting item unrun', async () => {
    const r = recorder({ hold: true });
    const lanes = new FastLanes({
      models: [{ ref: 'm@1.0.0', spec: spec({ maxBatchSize: 1, maxDelayMs: 0 }) }],
      run: r.run,
      copies: 1,
      queueLimit: 1,
    });
    const running = [(await occupy(lanes, r, 'a', 1)).answer, (await occupy(lanes, r, 'b', 2)).answer];
    const leave = new AbortController();
    const cancelled = lanes.infer('m@1.0.0', text('c'), {}, leave.signal);
    await expect(lanes.infer('m@1.0.0', text('d'), {})).rejects.toMatchObject({
      code: 'INFERQ_FAST_PATH_BUSY',
    });
    leave.abort();
    await expect(cancelled).rejects.toMatchObject({ code: 'INFERQ_CANCELLED' });
    const after = lanes.infer('m@1.0.0', text('e'), {});
    r.release();
    await expect.poll(() => r.batches.length).toBe(3);
    r.release();
    await Promise.all([...running, after]);
    expect(r.batches.map((b) => b.texts[0])).toEqual(['a', 'b', 'e']);
    await expect(lanes.infer('other@1', text('x'), {})).rejects.toMatchObject({
      code: 'INFERQ_FAST_PATH_UNAVAILABLE',
    });
    await lanes.stop();
  });

  it('fails every item of a batch whose run rejects, with its error', async () => {
    const lanes = new FastLanes({
      models: [{ ref: 'm@1.0.0', spec: spec({ maxBatchSize: 4, maxDelayMs: 0 }) }],
      run: async () => {
        throw new Error('thread died');
      },
      copies: 1,
      queueLimit: 10,
    });
    await expect(lanes.infer('m@1.0.0', text('a'), {})).rejects.toThrow('thread died');
    await lanes.stop();
  });
});
