import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime } from '../../src/runtime/create-runtime.js';
import { JsRuntime } from '../../src/runtime/js-runtime.js';
import { bundledModelsDir, ModelRepository, readModel } from '../../src/runtime/model-repository.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { rejection, runRuntimeContract } from '../contracts/runtime.contract.js';
import { tempModelsDir } from '../fixtures/temp-models.js';

const temp = tempModelsDir();
afterAll(() => temp.cleanup());

const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

/** The bundled echo module under another model.yaml (to set timeoutMs). */
function echoWith(extraYaml: string) {
  return temp.write('echo-timeout', {
    'model.yaml': `name: echo-timeout\nversion: "1"\nruntime: js\nartifact: ./echo.js\ninput: { kind: file }\n${extraYaml}\n`,
    'echo.js': readFileSync(new URL('../../models/echo/echo.js', import.meta.url), 'utf8'),
  });
}

/** A module that returns an Error for some items: 'bad' carries an inferq code, 'boom' none. */
async function itemsModel(): Promise<JsRuntime> {
  const dir = temp.write('items', {
    'model.yaml': 'name: items\nversion: "1"\nruntime: js\nartifact: ./model.js\ninput: { kind: json }\n',
    'model.js': `
      let loaded = false;
      export function load({ model }) { loaded = model.spec.name === 'items'; }
      export function predict(inputs) {
        return inputs.map(({ value }) => {
          if (!loaded) return new Error('not loaded');
          if (value === 'bad') return Object.assign(new Error('bad input'), { code: 'INFERQ_INPUT_UNDECODABLE' });
          if (value === 'boom') return new Error('boom');
          return { doubled: value * 2 };
        });
      }`,
  });
  return new JsRuntime(await readModel(dir));
}

const bundledEcho = async () => createRuntime(await new ModelRepository(bundledModelsDir).get('echo'));

runRuntimeContract('JsRuntime', {
  create: bundledEcho,
  good: async () => ({ bytes: new Uint8Array([1]) }),
  slow: async () => ({ batch: [{ bytes: new Uint8Array([1]) }], params: { delayMs: 60_000 } }),
  cancelAfterMs: 10,
  badItem: async () => ({
    runtime: await itemsModel(),
    good: { value: 21 },
    bad: { value: 'bad' },
    error: { code: 'INFERQ_INPUT_UNDECODABLE' },
  }),
  timed: async () => ({
    runtime: createRuntime(await readModel(echoWith('timeoutMs: 30'))),
    work: { batch: [{ bytes: new Uint8Array([1]) }], params: { delayMs: 60_000 } },
    endsAs: 'rejection',
    details: { timeoutMs: 30 },
  }),
});

describe('echo model', () => {
  let echo: Runtime;
  beforeAll(async () => {
    echo = createRuntime(await new ModelRepository(bundledModelsDir).get('echo'));
    await echo.load();
  });
  afterAll(() => echo.unload());

  it('is a js runtime', () => {
    expect(echo).toBeInstanceOf(JsRuntime);
  });

  it('returns the sha256 and size of each input with the params', async () => {
    const bytes = new TextEncoder().encode('hello inferq');
    const results = await echo.predict([{ bytes }, { value: { a: 1 } }], { tag: 'x' });
    expect(results).toEqual([
      { ok: true, output: { sha256: sha256(bytes), bytes: 12, params: { tag: 'x' } } },
      { ok: true, output: { sha256: sha256('{"a":1}'), bytes: 7, params: { tag: 'x' } } },
    ]);
  });

  it('waits delayMs once per batch', async () => {
    const [waited] = await echo.predict([{ bytes: new Uint8Array([1]) }], { delayMs: 5 });
    expect(waited).toMatchObject({ ok: true, output: { bytes: 1, params: { delayMs: 5 } } });
  });

  it('refuses a bad delayMs as the client error it is (400, not retried)', async () => {
    const err = await rejection(echo.predict([{ bytes: new Uint8Array([1]) }], { delayMs: -1 }));
    expect(err.code).toBe('INFERQ_VALIDATION_FAILED');
    expect(err.status).toBe(400);
  });
});

describe('JS model modules', () => {
  it('turns a returned Error without an inferq code into an INFERQ_WORK_FAILED item', async () => {
    const runtime = await itemsModel();
    await runtime.load();
    const [good, boom] = await runtime.predict([{ value: 21 }, { value: 'boom' }]);
    expect(good).toEqual({ ok: true, output: { doubled: 42 } });
    expect(boom).toMatchObject({ ok: false, error: { code: 'INFERQ_WORK_FAILED', message: 'boom' } });
    await runtime.unload();
  });

  it('fails the batch when predict returns the wrong number of results', async () => {
    const dir = temp.write('short', {
      'model.yaml': 'name: short\nversion: "1"\nruntime: js\nartifact: ./model.js\ninput: { kind: json }\n',
      'model.js': 'export const predict = () => [];',
    });
    const runtime = new JsRuntime(await readModel(dir));
    await runtime.load();
    expect((await rejection(runtime.predict([{ value: 1 }]))).code).toBe('INFERQ_WORK_FAILED');
  });

  it('refuses to load a module without predict(), or one whose load() throws', async () => {
    const noPredict = temp.write('nopredict', {
      'model.yaml':
        'name: nopredict\nversion: "1"\nruntime: js\nartifact: ./model.js\ninput: { kind: json }\n',
      'model.js': 'export const load = () => {};',
    });
    expect((await rejection(new JsRuntime(await readModel(noPredict)).load())).code).toBe(
      'INFERQ_MODEL_LOAD_FAILED',
    );
    const badLoad = temp.write('badload', {
      'model.yaml': 'name: badload\nversion: "1"\nruntime: js\nartifact: ./model.js\ninput: { kind: json }\n',
      'model.js':
        'export const load = () => { throw new Error("no weights"); }; export const predict = (i) => i;',
    });
    const err = await rejection(new JsRuntime(await readModel(badLoad)).load());
    expect(err.code).toBe('INFERQ_MODEL_LOAD_FAILED');
    expect(err.message).toContain('no weights');
  });
});
