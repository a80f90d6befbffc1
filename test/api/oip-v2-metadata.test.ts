import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogEntry } from '../../src/core/model-catalog.js';
import { StaticModelCatalog } from '../../src/core/static-model-catalog.js';
import { bundledModelsDir, ModelRepository } from '../../src/runtime/model-repository.js';
import { type AppFixture, bearer, createAppFixture, testCatalogEntries } from './app-fixture.js';

let f: AppFixture;

beforeAll(async () => {
  // The bundled models as the repository reads them (their tensors key included), and the test
  // catalog's models, which declare no tensor signature.
  const bundled: CatalogEntry[] = (await new ModelRepository(bundledModelsDir).list()).map((m) => ({
    kind: 'model',
    name: m.spec.name,
    version: m.spec.version,
    spec: m.spec,
    available: true,
  }));
  const others = testCatalogEntries.filter((e) => !bundled.some((b) => b.name === e.name));
  f = await createAppFixture({ catalog: new StaticModelCatalog([...bundled, ...others]) });
});

afterAll(() => f.close());

/** `key` null: no credential at all. */
const get = (url: string, key: string | null = f.keys.user) =>
  f.app.inject({ method: 'GET', url, headers: key === null ? {} : bearer(key) });

describe('Open Inference Protocol health', () => {
  it('answers live and ready as the v2 protocol says, without a key (probes)', async () => {
    expect((await get('/v2/health/live', null)).json()).toEqual({ live: true });
    const ready = await get('/v2/health/ready', null);
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ ready: true, checks: { store: 'ok', broker: 'ok', blobs: 'ok' } });
  });
});

describe('GET /v2/models/{model}[/versions/{version}]', () => {
  it('gives each bundled model its declared inputs and outputs', async () => {
    const cls = await get('/v2/models/ocr-cls');
    expect(cls.statusCode).toBe(200);
    expect(cls.json()).toEqual({
      name: 'ocr-cls',
      versions: ['2.0.0'],
      platform: 'inferq_onnx',
      inputs: [{ name: 'IMAGE', datatype: 'BYTES', shape: [1] }],
      outputs: [
        { name: 'label', datatype: 'BYTES', shape: [1] },
        { name: 'confidence', datatype: 'FP32', shape: [1] },
      ],
    });
    for (const name of ['echo', 'ocr-det', 'ocr-rec']) {
      const meta = await get(`/v2/models/${name}`);
      expect(meta.statusCode, name).toBe(200);
      expect((meta.json() as { inputs: unknown[] }).inputs.length, name).toBeGreaterThan(0);
    }
    const versioned = await get('/v2/models/ocr-rec/versions/4.0.0');
    expect(versioned.json()).toMatchObject({ name: 'ocr-rec', versions: ['4.0.0'] });
  });

  it('answers an unknown model or version with 404 INFERQ_MODEL_NOT_FOUND naming it', async () => {
    const model = await get('/v2/models/nope');
    expect(model.statusCode).toBe(404);
    // The protocol's error shape (`error` a string, which Triton's and KServe's clients print).
    expect(model.json()).toMatchObject({
      error: 'no model named nope',
      code: 'INFERQ_MODEL_NOT_FOUND',
      details: { model: 'nope' },
    });
    const version = await get('/v2/models/ocr-cls/versions/9.9.9');
    expect(version.statusCode).toBe(404);
    expect(version.json().error).toContain('9.9.9');
    expect((await get('/v2/models/ocr-cls/versions/9.9.9/ready')).statusCode).toBe(404);
  });

  it('answers a model without a tensor signature with 404 INFERQ_OIP_NO_SIGNATURE saying what to add', async () => {
    const res = await get('/v2/models/vision');
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('INFERQ_OIP_NO_SIGNATURE');
    expect(res.json().error).toContain('tensors');
  });

  it('needs a key, as /v1 does', async () => {
    expect((await get('/v2/models/ocr-cls', null)).statusCode).toBe(401);
    expect((await get('/v2/models/ocr-cls/ready', null)).statusCode).toBe(401);
  });

  it('says a model is ready when it is available (no worker registry in this app)', async () => {
    const ready = await get('/v2/models/ocr-cls/ready');
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ name: 'ocr-cls', version: '2.0.0', ready: true });
    expect((await get('/v2/models/echo/versions/1.0.0/ready')).statusCode).toBe(200);
  });
});
